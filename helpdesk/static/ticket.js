// The ticket workspace: tabs (keys 1-4), the panes' height, and a field's evidence highlighted in the
// letter pane. Without this script every tab is shown one below the other and nothing is lost.
(function () {
  "use strict";
  const ws = document.getElementById("workspace");
  if (!ws) return;
  const tabs = Array.from(ws.querySelectorAll(".ws-tabs [role=tab]"));
  const panel = tab => document.getElementById(tab.getAttribute("aria-controls"));

  function show(tab, focusTab) {
    tabs.forEach(function (t) {
      const on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      panel(t).hidden = !on;
    });
    if (focusTab) tab.focus();
  }
  // the tab holding `el` (a reply box, a form an anchor points at) comes to the front first
  function reveal(el) {
    const p = el && el.closest("[role=tabpanel]");
    if (!p || !p.hidden) return;
    const tab = tabs.find(t => panel(t) === p);
    if (tab) show(tab, false);
  }
  window.helpdeskReveal = reveal;

  const fromHash = location.hash && document.querySelector(location.hash.replace(/[^#\w-]/g, ""));
  show(tabs[0], false);
  // after a form sent from a tab (a reply, a note, a status change) the page comes back on that tab
  const backKey = "helpdesk-tab:" + location.pathname;
  let back = null;
  try { back = sessionStorage.getItem(backKey); sessionStorage.removeItem(backKey); } catch (err) { /* private mode */ }
  const backTab = back && tabs.find(t => t.id === back);
  if (backTab) show(backTab, false);
  if (fromHash) reveal(fromHash);
  document.addEventListener("submit", function (e) {
    const p = e.target.closest("[role=tabpanel]");
    const tab = p && p.id !== "pane-letter" && tabs.find(t => panel(t) === p);
    try { if (tab) sessionStorage.setItem(backKey, tab.id); } catch (err) { /* private mode */ }
  });

  ws.querySelector(".ws-tabs").addEventListener("click", function (e) {
    const tab = e.target.closest("[role=tab]");
    if (tab) show(tab, true);
  });
  ws.querySelector(".ws-tabs").addEventListener("keydown", function (e) {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      show(next, true);
      e.preventDefault();
    }
  });

  function typing(e) {
    const t = e.target;
    return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  }
  // capture phase: runs before app.js's shortcuts, so "r" and "m" find their box already shown
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    const tab = tabs.find(t => t.dataset.tabKey === e.key);
    if (tab) { show(tab, true); e.preventDefault(); e.stopPropagation(); return; }
    if (e.key === "r") reveal(document.getElementById("reply-body"));
    if (e.key === "m") reveal(document.getElementById("note-body"));
  }, true);
  document.addEventListener("click", function (e) {
    const a = e.target.closest("a[href^='#']");
    if (a) reveal(document.querySelector(a.getAttribute("href").replace(/[^#\w-]/g, "")));
  });

  // the panes fill the window below the ticket's head; the page itself does not scroll
  function fit() {
    const top = ws.getBoundingClientRect().top + window.scrollY;
    document.documentElement.style.setProperty("--ws-top", Math.round(top) + "px");
  }
  fit();
  window.addEventListener("resize", fit);

  // --- evidence: a field's text (docx, mail body) or page (PDF, scans) lights up in the letter pane
  const letterTab = tabs[0];
  const norm = s => (s || "").replace(/[\s\u3000:：，,。.;；、（）()“”"'《》<>【】\[\]-]+/g, "").toLowerCase();
  function clear() {
    document.querySelectorAll(".ev-hl").forEach(x => x.classList.remove("ev-hl"));
    document.querySelectorAll(".ev-doc").forEach(x => x.classList.remove("ev-doc"));
    document.querySelectorAll(".field-row.ev-active").forEach(x => x.classList.remove("ev-active"));
  }
  const docsFor = source => Array.from(document.querySelectorAll(".letter-pane .doc")).filter(d => d.dataset.source === source);
  function textBlocks(doc, wanted) {
    const blocks = Array.from(doc.querySelectorAll(".docx p, .docx td, .docx h3, .docx h4, .mailtext p"))
      .filter(b => !b.querySelector("p, td"));  // the innermost: a table cell's paragraphs, not the cell
    let hits = blocks.filter(b => norm(b.textContent).includes(wanted));
    if (!hits.length && wanted.length > 8) {
      // the evidence may run over several paragraphs: the ones holding its start and its end
      const head = wanted.slice(0, 8), tail = wanted.slice(-8);
      hits = blocks.filter(b => { const t = norm(b.textContent); return t.includes(head) || t.includes(tail); });
    }
    return hits.slice(0, 6);
  }
  // the spans whose text covers `wanted` on the evidence's page (or any page): joined text, then offsets
  function layerWords(doc, wanted, page) {
    const pages = Array.from(doc.querySelectorAll(".page"));
    const order = page ? [pages[page - 1], ...pages.filter((p, i) => i !== page - 1)] : pages;
    for (const p of order) {
      if (!p) continue;
      const spans = Array.from(p.querySelectorAll(".textlayer span"));
      let joined = "";
      const starts = spans.map(s => { const at = joined.length; joined += norm(s.textContent); return at; });
      let at = joined.indexOf(wanted);
      let length = wanted.length;
      if (at < 0 && wanted.length > 8) { at = joined.indexOf(wanted.slice(0, 8)); length = 8; }
      if (at < 0) continue;
      return spans.filter((s, i) => starts[i] < at + length && starts[i] + norm(s.textContent).length > at);
    }
    return [];
  }
  function highlight(row) {
    clear();
    const source = row.dataset.evSource;
    if (!source) return;
    const docs = docsFor(source);
    if (!docs.length) return;
    row.classList.add("ev-active");
    if (panel(letterTab).hidden) show(letterTab, false);
    let target = null, doc = docs[0];
    const page = Number(row.dataset.evPage || 0);
    const wanted = norm(row.dataset.evText);
    // text sources (docx, mail bodies): the paragraphs holding the evidence, in the first document that has it
    for (const d of docs) {
      if (!wanted || !d.querySelector(".docx, .mailtext")) continue;
      const hits = textBlocks(d, wanted);
      if (hits.length) { hits.forEach(h => h.classList.add("ev-hl")); target = hits[0]; doc = d; break; }
    }
    doc.classList.add("ev-doc");
    if (!target && wanted) {  // a PDF's text layer: the words of the evidence on its page
      const hits = layerWords(doc, wanted, page);
      hits.forEach(h => h.classList.add("ev-hl"));
      target = hits[0] || null;
      if (target) target.closest(".page").classList.add("ev-hl");
    }
    if (!target) {  // page images (PDF, scans): the page the evidence is on
      const pages = doc.querySelectorAll(".page");
      const p = pages[Math.max(0, Math.min(pages.length, page || 1) - 1)];
      if (p) { p.classList.add("ev-hl"); target = p; }
    }
    (target || doc).scrollIntoView({ block: "nearest" });
  }
  const fields = document.getElementById("fields");
  if (fields) {
    fields.addEventListener("focusin", function (e) { const r = e.target.closest(".field-row"); if (r) highlight(r); });
    fields.addEventListener("mouseover", function (e) {
      const r = e.target.closest(".field-row");
      if (r && !r.classList.contains("ev-active")) highlight(r);
    });
  }
})();
