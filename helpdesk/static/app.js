// Keyboard shortcuts and small conveniences; the pages work without this script.
(function () {
  "use strict";
  function typing(e) {
    const t = e.target;
    return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  }
  function click(sel) { const el = document.querySelector(sel); if (el) { el.click(); return true; } return false; }
  function focus(sel) { const el = document.querySelector(sel); if (el) { el.focus(); return true; } return false; }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      document.querySelectorAll(".kbd-help.open").forEach(x => x.classList.remove("open"));
      if (typing(e)) e.target.blur();  // leave the input: the shortcuts work again
      return;
    }
    if (typing(e)) return;
    const rows = Array.from(document.querySelectorAll("table.queue tbody tr[data-href]"));
    const cur = rows.findIndex(r => r.classList.contains("selected"));
    function select(i) {
      if (!rows.length) return;
      i = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(r => r.classList.remove("selected"));
      rows[i].classList.add("selected"); rows[i].focus();
    }
    switch (e.key) {
      case "?": { const h = document.querySelector(".kbd-help"); if (h) h.classList.toggle("open"); break; }
      case "j": case "ArrowDown": if (rows.length) { select(cur + 1); e.preventDefault(); } break;
      case "k": case "ArrowUp": if (rows.length) { select(cur - 1); e.preventDefault(); } break;
      case "Enter": case "o":
        // only from the selected row itself: Enter on a focused button or link keeps its own meaning
        if (cur >= 0 && (document.activeElement === rows[cur] || document.activeElement === document.body)) {
          window.location = rows[cur].dataset.href;
        }
        break;
      case "n": click("[data-key=next]"); break;
      case "c": click("[data-key=claim]"); break;
      case "x": if (cur >= 0) { const box = rows[cur].querySelector("input[type=checkbox]"); if (box) box.checked = !box.checked; } break;
      case "r": if (focus("#reply-body")) e.preventDefault(); break;
      case "m": if (focus("#note-body")) e.preventDefault(); break;
      case "a": if (focus("[data-key=apply]")) e.preventDefault(); break;
      case "/": if (focus("input[name=q]")) e.preventDefault(); break;
      case "g": window.location = "/"; break;
      default: return;
    }
  });

  // confirm dangerous buttons
  document.addEventListener("submit", function (e) {
    const b = e.submitter;
    if (b && b.dataset.confirm && !window.confirm(b.dataset.confirm)) { e.preventDefault(); return; }
    // one submit per form: a double click never posts twice
    const f = e.target;
    if (f.dataset.submitted) { e.preventDefault(); return; }
    f.dataset.submitted = "1";
    setTimeout(() => { delete f.dataset.submitted; }, 5000);
  });

  // fill a reply from a macro (the macro bodies are rendered into data attributes)
  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-macro-target]")) {
      const opt = e.target.selectedOptions[0];
      const target = document.querySelector(e.target.dataset.macroTarget);
      if (opt && target && opt.dataset.body !== undefined) { target.value = opt.dataset.body; target.focus(); }
    }
  });

  // ticket page: the ? button opens the help; a macro that asks for material highlights that button
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-toggle-help]")) { const h = document.querySelector(".kbd-help"); if (h) h.classList.toggle("open"); }
    if (e.target.closest("[data-close-help]") || e.target.classList.contains("kbd-help")) {
      document.querySelectorAll(".kbd-help.open").forEach(x => x.classList.remove("open"));
    }
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-macro-target]")) {
      const opt = e.target.selectedOptions[0];
      const button = document.querySelector("[data-key=request-material]");
      if (button) button.classList.toggle("primary", !!(opt && opt.dataset.action === "request_material"));
    }
    if (e.target.matches("input[data-check-all]")) {
      const table = e.target.closest("table");
      table.querySelectorAll("tbody input[type=checkbox]").forEach(b => { b.checked = e.target.checked; });
    }
  });

  // mail bodies sit in sandboxed iframes (no scripts, same origin only so the height can be read)
  function fit(frame) {
    try {
      const doc = frame.contentDocument;
      if (doc && doc.body) frame.style.height = Math.min(2000, Math.max(60, doc.body.scrollHeight + 24)) + "px";
    } catch (err) { /* not readable: keep the CSS height */ }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("iframe.mail-html").forEach(function (f) {
      f.addEventListener("load", function () { fit(f); });
      fit(f);
    });
  });

  // unread notifications: a badge on the navigation link
  document.addEventListener("DOMContentLoaded", function () {
    const link = document.querySelector('header.top nav a[href$="/notifications"]');
    if (!link) return;
    fetch(link.getAttribute("href") + "/count", { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(r => r.ok ? r.json() : null)
      .then(function (d) {
        if (!d || !d.unread) return;
        const badge = document.createElement("span");
        badge.className = "badge"; badge.textContent = d.unread; badge.setAttribute("aria-label", d.unread + " 条未读");
        link.appendChild(badge);
      }).catch(() => {});
  });

  // light polling for live bits: [data-poll=url] elements are refreshed with the HTML fragment at url
  function poll() {
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      fetch(el.dataset.poll, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        // a redirect means the session ended: keep the last figures rather than show the login page inside
        .then(r => (r.ok && !r.redirected) ? r.text() : null).then(t => { if (t !== null) el.innerHTML = t; }).catch(() => {});
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    const els = document.querySelectorAll("[data-poll]");
    if (els.length) { const every = Number(els[0].dataset.every || 15000); setInterval(poll, every); }
  });
})();
