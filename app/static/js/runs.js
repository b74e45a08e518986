// Live runs: poll GET /api/v1/ingest/runs/<id> for every element marked data-live, update its status,
// counts and progress in place, stop when the run has finished. "Sync now" buttons POST to the API.
(function () {
  "use strict";
  var LIVE = { queued: true, running: true, retrying: true };
  var PERIOD = 1500;

  function setText(root, field, text) {
    var el = root.querySelector('[data-field="' + field + '"]');
    if (el) { el.textContent = text; }
    return el;
  }

  function update(root, run) {
    var badge = setText(root, "status", run.status);
    if (badge) { badge.className = "badge badge--" + run.status; }
    var c = run.counts || {};
    if (root.tagName === "TR") {
      setText(root, "counts", c.added + " / " + c.updated + " / " + c.unchanged + " / " + c.removed);
      setText(root, "rejected", String(c.rejected));
    } else {
      setText(root, "counts", c.added + " added, " + c.updated + " updated, " + c.unchanged + " unchanged, " +
        c.removed + " removed");
    }
    if (run.seconds !== null && run.seconds !== undefined) { setText(root, "seconds", run.seconds.toFixed(1)); }
    var p = run.progress || {};
    var bar = root.querySelector('[data-field="bar"]');
    if (bar) {
      if (!LIVE[run.status]) { bar.max = 1; bar.value = 1; }
      else if (p.total) { bar.max = p.total; bar.value = p.done; }
    }
    setText(root, "stage", LIVE[run.status] ? (p.stage || run.status) + (p.total ? " " + p.done + "/" + p.total : "")
      : (p.stage === "done" ? "done" : (p.stage || "")));
    var err = setText(root, "error", run.error || "");
    if (err) { err.hidden = !run.error; }
  }

  function poll() {
    var live = document.querySelectorAll('[data-live="1"]');
    if (!live.length) { return; }
    var pending = live.length;
    live.forEach(function (root) {
      var id = root.getAttribute("data-run");
      fetch("/api/v1/ingest/runs/" + encodeURIComponent(id), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (run) {
          if (run) {
            update(root, run);
            if (!LIVE[run.status]) { root.removeAttribute("data-live"); }
          }
        })
        .catch(function () { /* try again on the next tick */ })
        .finally(function () { if (--pending === 0) { window.setTimeout(poll, PERIOD); } });
    });
  }

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.querySelectorAll("[data-sync-source]").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.getAttribute("data-sync-source");
      var note = document.querySelector('[data-sync-note="' + name + '"]');
      button.disabled = true;
      fetch("/api/v1/ingest/sources/" + encodeURIComponent(name) + "/sync", {
        method: "POST", headers: { Accept: "application/json", "X-CSRF-Token": csrf() }, credentials: "same-origin"
      }).then(function (r) {
        return r.json().then(function (body) { return { status: r.status, body: body }; });
      }).then(function (res) {
        if (res.status === 202) {
          window.location.href = "/runs/" + encodeURIComponent(res.body.run);
        } else {
          if (note) { note.textContent = (res.body.error && res.body.error.message) || "Could not queue the run"; }
          button.disabled = false;
        }
      }).catch(function () {
        if (note) { note.textContent = "The portal could not be reached"; }
        button.disabled = false;
      });
    });
  });

  window.setTimeout(poll, PERIOD);
})();
