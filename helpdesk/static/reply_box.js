// The reply box (tickets/_reply_box.html): canned replies inserted at the cursor, "::" search,
// drafts saved on the server as the agent types, a warning before unsaved text is lost, Ctrl+Enter.
// Without this script the form still posts; only these conveniences are missing.
(function () {
  "use strict";
  const DRAFT_DELAY = 800;  // ms after the last keystroke
  const MAX_HITS = 8;

  function setup(form) {
    const ta = form.querySelector("#reply-body");
    const select = form.querySelector("select[data-reply-macro]");
    const list = form.querySelector("#macro-search");
    const status = form.querySelector("[data-draft-status]");
    const token = (form.querySelector("input[name=csrf_token]") || {}).value || "";
    const url = form.dataset.draftUrl;
    if (!ta) return;

    // ----------------------------------------------------------------- insert at the cursor
    function insert(text, from, to) {
      const start = from === undefined ? ta.selectionStart : from;
      const end = to === undefined ? ta.selectionEnd : to;
      ta.focus();
      ta.setRangeText(text, start, end, "end");
      ta.dispatchEvent(new Event("input", { bubbles: true }));
    }
    function highlightMaterial(action) {
      const button = form.querySelector("[data-key=request-material]");
      if (button) button.classList.toggle("primary", action === "request_material");
    }
    const macros = select ? Array.from(select.querySelectorAll("option[data-body]")).map(function (o) {
      return { key: o.value, title: o.dataset.title || o.textContent, body: o.dataset.body,
               action: o.dataset.action || "", group: o.dataset.group || "" };
    }) : [];
    if (select) {
      // Chrome fires "change" on every arrow key of a closed select: browsing with the keyboard only
      // moves the choice, Enter inserts it; a pick with the mouse inserts at once
      let browsing = false;
      const BROWSE_KEYS = ["ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End"];
      function insertChosen() {
        const opt = select.selectedOptions[0];
        if (!opt || opt.dataset.body === undefined) return;
        insert(opt.dataset.body);  // the textarea kept its selection while the select had the focus
        highlightMaterial(opt.dataset.action);
        select.value = "";
      }
      select.addEventListener("keydown", function (e) {
        if (e.key === "Enter") { e.preventDefault(); browsing = false; insertChosen(); }
        else if (BROWSE_KEYS.includes(e.key) || (e.key.length === 1 && e.key !== " ")) browsing = true;
      });
      select.addEventListener("change", function () {
        if (browsing) { browsing = false; return; }
        insertChosen();
      });
      select.addEventListener("blur", function () { browsing = false; });
    }

    // ----------------------------------------------------------------- "::" quick search
    let hits = [], active = -1, queryStart = -1;
    function close() {
      list.hidden = true; list.innerHTML = ""; hits = []; active = -1; queryStart = -1;
      ta.setAttribute("aria-expanded", "false"); ta.removeAttribute("aria-activedescendant");
    }
    function mark(i) {
      active = i;
      Array.from(list.children).forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      if (i >= 0 && list.children[i]) {
        ta.setAttribute("aria-activedescendant", list.children[i].id);
        list.children[i].scrollIntoView({ block: "nearest" });
      }
    }
    function choose(i) {
      const m = hits[i];
      if (!m) return;
      const from = queryStart, to = ta.selectionStart;
      close();
      insert(m.body, from, to);  // the "::query" typed is replaced by the macro
      highlightMaterial(m.action);
    }
    function open(query) {
      const q = query.toLowerCase();
      hits = macros.filter(function (m) {
        return !q || (m.title + " " + m.key + " " + m.group).toLowerCase().includes(q) || m.body.toLowerCase().includes(q);
      }).slice(0, MAX_HITS);
      list.innerHTML = "";
      if (!hits.length) {
        const li = document.createElement("li");
        li.className = "muted"; li.textContent = "没有匹配的模板"; li.setAttribute("role", "option");
        li.setAttribute("aria-disabled", "true"); li.id = "macro-search-none";
        list.appendChild(li);
      }
      hits.forEach(function (m, i) {
        const li = document.createElement("li");
        li.id = "macro-search-" + i; li.setAttribute("role", "option"); li.dataset.key = m.key;
        const title = document.createElement("strong"); title.textContent = m.title;
        const group = document.createElement("span"); group.className = "muted small"; group.textContent = " · " + m.group;
        li.append(title, group);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.hidden = false; ta.setAttribute("aria-expanded", "true");
      mark(hits.length ? 0 : -1);
    }
    function searchState() {
      const before = ta.value.slice(0, ta.selectionStart);
      const m = /::([^\s:]{0,30})$/.exec(before);
      if (!m || ta.selectionStart !== ta.selectionEnd) { if (!list.hidden) close(); return; }
      queryStart = ta.selectionStart - m[0].length;
      open(m[1]);
    }
    ta.addEventListener("keydown", function (e) {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault(); close(); send(); return;
      }
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); if (hits.length) mark((active + 1) % hits.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); if (hits.length) mark((active - 1 + hits.length) % hits.length); }
      else if (e.key === "Enter" || e.key === "Tab") { if (hits.length) { e.preventDefault(); choose(active); } else close(); }
      else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); }  // stay in the textarea
    });
    ta.addEventListener("blur", function () { if (!list.hidden) close(); });
    ta.addEventListener("click", searchState);

    // ----------------------------------------------------------------- drafts on the server
    let saved = ta.value, timer = null, inFlight = false, submitting = false;
    function dirty() { return !submitting && ta.value !== saved; }
    function say(text) { if (status) status.textContent = text; }
    function saveDraft() {
      timer = null;
      if (!url || ta.value === saved) return;
      if (inFlight) { timer = setTimeout(saveDraft, DRAFT_DELAY); return; }
      const body = ta.value;
      inFlight = true;
      fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
        body: JSON.stringify({ body: body, since: form.dataset.openedAt || "" }),
      }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function () {
          saved = body;
          const now = new Date();
          say((body.trim() ? "草稿已保存 " : "草稿已清除 ") + String(now.getHours()).padStart(2, "0") + ":" + String(now.getMinutes()).padStart(2, "0"));
          form.dataset.draftSaved = body.length;  // for tests and for the curious
        })
        .catch(function () { say("草稿未能保存（网络或登录已过期），请勿关闭页面"); })
        .finally(function () { inFlight = false; });
    }
    ta.addEventListener("input", function () {
      searchState();
      if (timer) { clearTimeout(timer); timer = null; }
      if (ta.value === saved) { say("草稿已保存（与服务器上的一致）"); return; }
      say("正在保存草稿…");
      timer = setTimeout(saveDraft, DRAFT_DELAY);
    });
    window.addEventListener("beforeunload", function (e) {
      if (!dirty()) return;
      e.preventDefault();
      e.returnValue = "";  // the browser shows its own "leave the page?" question
    });
    window.addEventListener("pagehide", function () {
      // the agent chose to leave anyway: hand the text to the server as the page goes
      if (!dirty() || !url || !navigator.sendBeacon) return;
      const data = new FormData();
      data.append("csrf_token", token); data.append("body", ta.value); data.append("since", form.dataset.openedAt || "");
      navigator.sendBeacon(url, data);
    });

    // ----------------------------------------------------------------- sending
    function send() {
      const button = form.querySelector("[data-reply-send]");
      if (!ta.value.trim()) { ta.reportValidity(); return; }
      if (form.requestSubmit) form.requestSubmit(button || undefined); else if (button) button.click();
    }
    form.addEventListener("submit", function (e) {
      // app.js may still cancel (a data-confirm answered "no"); decide after it has run
      setTimeout(function () { submitting = !e.defaultPrevented; }, 0);
      submitting = true;
      if (timer) { clearTimeout(timer); timer = null; }
    });
    form.addEventListener("keydown", function (e) {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && e.target !== ta) { e.preventDefault(); send(); }
    });
  }

  function init() { document.querySelectorAll("form[data-reply-box]").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
