// Suggestions as you type in the header search box (progressive enhancement: without JS the box still
// submits to /search). Debounced; asks /api/v1/search/suggest; the labels come back HTML-escaped by the
// server with <mark> around matches, everything else is set as text.
(function () {
  "use strict";
  var DELAY_MS = 150;

  function entityUrl(ref) {
    var kind = ref.split(":")[0], rest = ref.slice(kind.length + 1), slash = rest.indexOf("/");
    var ns = rest.slice(0, slash), name = rest.slice(slash + 1);
    return "/catalog/" + [ns, kind, name].map(encodeURIComponent).join("/");
  }

  function setup(form) {
    var input = form.querySelector("input[name=q]");
    var url = form.getAttribute("data-suggest-url");
    if (!input || !url) return;
    var list = document.createElement("ul");
    list.className = "search-suggest";
    list.id = "search-suggest-" + Math.random().toString(36).slice(2);
    list.setAttribute("role", "listbox");
    list.hidden = true;
    form.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("autocomplete", "off");
    var timer = null, seq = 0, active = -1;

    function close() {
      list.hidden = true; active = -1;
      input.setAttribute("aria-expanded", "false");
    }
    function mark(index) {
      var items = list.querySelectorAll("li");
      active = index;
      for (var i = 0; i < items.length; i++) items[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    function render(items, text) {
      list.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("data-ref", item.ref);
        var a = document.createElement("a");
        a.href = entityUrl(item.ref);
        var label = document.createElement("span");
        label.className = "search-suggest__label";
        label.innerHTML = item.label_html;   // escaped server-side (graph.search.highlight)
        var kind = document.createElement("span");
        kind.className = "search-suggest__kind";
        kind.textContent = item.kind;
        a.appendChild(label); a.appendChild(kind);
        li.appendChild(a);
        li.addEventListener("mouseenter", function () { mark(i); });
        list.appendChild(li);
      });
      var all = document.createElement("li");
      all.setAttribute("role", "option");
      all.className = "search-suggest__all";
      var link = document.createElement("a");
      link.href = form.action + "?q=" + encodeURIComponent(text);
      link.textContent = items.length ? "All results for \u201c" + text + "\u201d" : "No quick match; search all for \u201c" + text + "\u201d";
      all.appendChild(link);
      list.appendChild(all);
      list.hidden = false; active = -1;
      input.setAttribute("aria-expanded", "true");
    }
    function ask() {
      var text = input.value.trim();
      if (!text) { close(); return; }
      var mine = ++seq;
      fetch(url + "?q=" + encodeURIComponent(text), {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {items: []}; })
        .then(function (body) { if (mine === seq && input.value.trim() === text) render(body.items || [], text); })
        .catch(function () { /* suggestions are a convenience; the form still submits */ });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    });
    input.addEventListener("keydown", function (ev) {
      var items = list.querySelectorAll("li");
      if (list.hidden || !items.length) return;
      if (ev.key === "ArrowDown") { ev.preventDefault(); mark((active + 1) % items.length); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); mark((active - 1 + items.length) % items.length); }
      else if (ev.key === "Escape") { close(); }
      else if (ev.key === "Enter" && active >= 0) {
        ev.preventDefault();
        window.location.href = items[active].querySelector("a").href;
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 200); });
  }

  // styles live in trellis.css: the Content-Security-Policy allows no inline or injected styles
  var forms = document.querySelectorAll("form[data-suggest-url]");
  for (var i = 0; i < forms.length; i++) setup(forms[i]);
})();
