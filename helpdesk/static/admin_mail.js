// /admin/mail: the backlog figures ([data-backlog-url]) refreshed every few seconds from the JSON
// endpoint, so an admin watching a first poll or a big reprocess sees the counts go down.
(function () {
  "use strict";
  const box = document.querySelector("[data-backlog-url]");
  if (!box) { return; }
  const every = Number(box.dataset.every || 3000);
  const status = box.querySelector("[data-backlog-status]");
  function refresh() {
    fetch(box.dataset.backlogUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) {
        box.querySelectorAll("[data-backlog]").forEach(function (el) {
          const value = data[el.dataset.backlog];
          if (value !== undefined) { el.textContent = String(value); }
        });
        if (status) { status.textContent = "更新于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }); }
      })
      .catch(function () { if (status) { status.textContent = "暂时无法刷新，稍后重试"; } });
  }
  setInterval(refresh, every);
})();
