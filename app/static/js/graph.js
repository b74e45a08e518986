/* The entity page's Graph tab: fetch the neighbourhood from the REST API and draw it with Cytoscape.js.
   The controls are a plain GET form (the page works without this script); with it they redraw in place and
   keep the URL shareable. The Cytoscape instance is exposed as window.cy (tests read it). */
(function () {
  "use strict";
  var box = document.getElementById("graph");
  if (!box || typeof cytoscape !== "function") { return; }
  var form = document.getElementById("graph-controls");
  var statusEl = document.getElementById("graph-status");
  var cutoffEl = document.getElementById("graph-cutoff");
  var errorEl = document.getElementById("graph-error");
  var summaryEl = document.getElementById("graph-summary");
  var root = box.getAttribute("data-root");
  var api = box.getAttribute("data-api");
  var entityBase = box.getAttribute("data-entity-base");

  var COLOURS = {
    component: "#2563eb", api: "#059669", resource: "#d97706", system: "#7c3aed", domain: "#0d9488",
    group: "#db2777", user: "#64748b", location: "#92400e", template: "#4f46e5"
  };

  function entityUrl(ref) {
    var colon = ref.indexOf(":"), slash = ref.indexOf("/", colon + 1);
    var kind = ref.slice(0, colon), ns = ref.slice(colon + 1, slash), name = ref.slice(slash + 1);
    return entityBase + "/" + encodeURIComponent(ns) + "/" + encodeURIComponent(kind) + "/" + encodeURIComponent(name);
  }

  function params() {
    var p = new URLSearchParams();
    p.set("ref", root);
    var data = new FormData(form);
    p.set("depth", data.get("depth") || "2");
    p.set("max_nodes", data.get("max_nodes") || "150");
    data.getAll("kind").forEach(function (k) { p.append("kind", k); });
    data.getAll("relation").forEach(function (r) { p.append("relation", r); });
    return p;
  }

  function show(el, text) { el.textContent = text; el.hidden = !text; }

  function elements(data) {
    var els = [];
    data.nodes.forEach(function (n) {
      els.push({ group: "nodes", data: {
        id: n.ref, label: n.title || n.name || n.ref, kind: (n.kind || "").toLowerCase(),
        colour: COLOURS[(n.kind || "").toLowerCase()] || "#475569", distance: n.distance || 0
      }, classes: (n.unresolved ? "unresolved" : "") + (n.ref === data.root ? " root" : "") });
    });
    var seen = {};
    data.nodes.forEach(function (n) { seen[n.ref] = true; });
    data.edges.forEach(function (e, i) {
      if (seen[e.source] && seen[e.target]) {
        els.push({ group: "edges", data: { id: "e" + i, source: e.source, target: e.target, label: e.type } });
      }
    });
    return els;
  }

  /* Rings by distance from the root, stretched to the box's shape (an ellipse per ring). Within a ring,
     nodes sit near the angle of the nodes that reached them, so edges stay short and rarely cross. */
  function placeOnRings(els, data, maxDistance) {
    var width = box.clientWidth || 1000, height = box.clientHeight || 600;
    var rx = Math.max(140, (width / 2 - 90) / Math.max(1, maxDistance));
    var ry = Math.max(90, (height / 2 - 50) / Math.max(1, maxDistance));
    var nodes = {}, rings = {}, angle = {}, neighbours = {};
    els.forEach(function (el) {
      if (el.group === "nodes") {
        nodes[el.data.id] = el;
        (rings[el.data.distance] = rings[el.data.distance] || []).push(el);
        neighbours[el.data.id] = [];
      }
    });
    els.forEach(function (el) {
      if (el.group === "edges") {
        neighbours[el.data.source].push(el.data.target);
        neighbours[el.data.target].push(el.data.source);
      }
    });
    var order = ["component", "api", "resource", "system", "domain", "group", "user", "location", "template"];
    for (var d = 0; d <= maxDistance; d++) {
      var ring = rings[d] || [];
      ring.forEach(function (el) {
        var xs = 0, ys = 0, n = 0;
        neighbours[el.data.id].forEach(function (id) {
          var other = nodes[id];
          if (other && other.data.distance === d - 1 && angle[id] !== undefined) {
            xs += Math.cos(angle[id]); ys += Math.sin(angle[id]); n++;
          }
        });
        // ring positions start at the top (-90°) and go clockwise: measure the hint the same way
        var hint = n ? Math.atan2(ys, xs) + Math.PI / 2 : 0;
        el.hint = ((hint % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
        el.rank = order.indexOf(el.data.kind);
      });
      ring.sort(function (a, b) {
        return d === 1 ? (a.rank - b.rank) || (a.data.label < b.data.label ? -1 : 1)
                       : (a.hint - b.hint) || (a.rank - b.rank);
      });
      ring.forEach(function (el, i) {
        var a = d === 0 ? 0 : -Math.PI / 2 + 2 * Math.PI * i / ring.length;
        angle[el.data.id] = a;
        el.position = d === 0 ? { x: 0, y: 0 } : { x: rx * d * Math.cos(a), y: ry * d * Math.sin(a) };
      });
    }
  }

  function draw(data) {
    var maxDistance = 0;
    data.nodes.forEach(function (n) { maxDistance = Math.max(maxDistance, n.distance || 0); });
    if (window.cy) { window.cy.destroy(); }
    var els = elements(data);
    placeOnRings(els, data, maxDistance);
    window.cy = cytoscape({
      container: box,
      elements: els,
      minZoom: 0.2, maxZoom: 2.5,
      style: [
        { selector: "node", style: {
          "background-color": "data(colour)", "label": "data(label)", "color": "#0f172a",
          "font-size": 12, "text-valign": "bottom", "text-margin-y": 4, "width": 22, "height": 22,
          "text-wrap": "ellipsis", "text-max-width": 140, "border-width": 2, "border-color": "#ffffff",
          "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 2
        } },
        { selector: "node.root", style: { "width": 34, "height": 34, "border-width": 4, "border-color": "#0f172a",
          "font-weight": "bold", "font-size": 13, "text-max-width": 240 } },
        { selector: "node.unresolved", style: { "background-color": "#ffffff", "border-color": "#b91c1c",
          "border-style": "dashed", "border-width": 3, "color": "#b91c1c" } },
        { selector: "edge", style: {
          "width": 1.5, "line-color": "#cbd5e1", "target-arrow-color": "#94a3b8", "target-arrow-shape": "triangle",
          "curve-style": "bezier", "font-size": 10, "color": "#334155",
          "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.95,
          "text-background-padding": 2
        } },
        // Relation names appear on the edges of the node under the pointer (all of them on small graphs).
        { selector: "edge.labelled", style: { "label": "data(label)" } },
        { selector: "edge.near", style: { "label": "data(label)", "line-color": "#64748b", "target-arrow-color": "#334155", "width": 2.5, "z-index": 10 } },
        { selector: ".faded", style: { "opacity": 0.18 } },
        { selector: "node:active, node:selected", style: { "overlay-opacity": 0.08 } }
      ],
      layout: { name: "preset", fit: true, padding: 40 }
    });
    var cy = window.cy;
    if (data.edges.length <= 12) { cy.edges().addClass("labelled"); }
    cy.on("tap", "node", function (evt) { window.location.href = entityUrl(evt.target.id()); });
    cy.on("mouseover", "node", function (evt) {
      box.style.cursor = "pointer";
      var near = evt.target.closedNeighborhood();
      cy.elements().not(near).addClass("faded");
      near.edges().addClass("near");
    });
    cy.on("mouseout", "node", function () {
      box.style.cursor = "";
      cy.elements().removeClass("faded near");
    });
    box.setAttribute("data-node-count", String(data.nodes.length));
  }

  function load(pushUrl) {
    var p = params();
    show(errorEl, "");
    statusEl.hidden = false;
    statusEl.textContent = "Loading the graph…";
    if (pushUrl) {
      var pageParams = new URLSearchParams(p);
      pageParams.delete("ref");
      pageParams.set("tab", "graph");
      history.replaceState(null, "", window.location.pathname + "?" + pageParams.toString());
    }
    fetch(api + "?" + p.toString(), { headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var msg = body && body.error ? body.error.message : ("HTTP " + response.status);
            throw new Error(msg);
          }
          return body;
        });
      })
      .then(function (data) {
        draw(data);
        statusEl.hidden = true;
        show(cutoffEl, data.cut_off ? "Cut off: showing " + data.nodes.length + " of " +
          (data.capped ? "at least " : "") + data.total +
          " entities" + (data.capped ? " (the walk stopped at its cap of " + data.cap + ")" : "") +
          ". Lower the depth or filter by kind or relation to see the rest." : "");
        summaryEl.textContent = data.nodes.length + " entities, " + data.edges.length + " relations.";
        box.setAttribute("data-ready", "true");
      })
      .catch(function (err) {
        statusEl.hidden = true;
        show(errorEl, "The graph could not be loaded: " + err.message);
        box.setAttribute("data-ready", "error");
      });
  }

  form.addEventListener("submit", function (evt) { evt.preventDefault(); load(true); });
  form.addEventListener("change", function () { load(true); });
  load(false);
})();
