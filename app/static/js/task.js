// A task page: poll GET /api/v1/tasks/<id>/events?after=<seq> while the task is open or processing, append
// log lines, update step and task states; reload once at the end to show the output links.
(function () {
  "use strict";
  var root = document.querySelector(".task[data-task]");
  if (!root) { return; }
  var id = root.getAttribute("data-task");
  var after = parseInt(root.getAttribute("data-after") || "0", 10);
  var LIVE = { open: true, processing: true };
  var log = root.querySelector('[data-field="log"]');

  function badge(el, status) {
    if (el) { el.textContent = status; el.className = "badge badge--" + status; }
  }

  function tick() {
    if (root.getAttribute("data-live") !== "1") { return; }
    fetch("/api/v1/tasks/" + encodeURIComponent(id) + "/events?after=" + after, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        body.items.forEach(function (e) {
          var li = document.createElement("li");
          li.className = "level--" + (e.level || "info");
          var step = document.createElement("span");
          step.className = "muted small";
          step.textContent = e.step || "";
          li.appendChild(step);
          li.appendChild(document.createTextNode(" " + e.message));
          log.appendChild(li);
          after = Math.max(after, e.seq);
        });
        if (body.items.length) { log.scrollTop = log.scrollHeight; }
        (body.steps || []).forEach(function (s) {
          badge(root.querySelector('[data-step="' + s.id + '"] [data-field="step-status"]'), s.status);
        });
        badge(root.querySelector('[data-field="status"]'), body.status);
        if (!LIVE[body.status]) {
          root.removeAttribute("data-live");
          window.location.reload();
        }
      })
      .catch(function () { /* try again on the next tick */ })
      .finally(function () { window.setTimeout(tick, 1000); });
  }
  window.setTimeout(tick, 1000);
})();
