// Template forms: show only the fields of the chosen `dependencies`/`oneOf` branch. A dependent field's
// wrapper carries data-depends-on (the field it follows) and data-when (JSON list of values showing it).
// Hidden fields are disabled so the browser does not send them (the server drops them anyway).
(function () {
  "use strict";
  var form = document.querySelector(".template-form");
  if (!form) { return; }

  function currentValue(name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    var value = null;
    inputs.forEach(function (input) {
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { value = input.value; }
      } else if (input.type !== "hidden" || value === null) {
        value = input.value;
      }
    });
    return value;
  }

  function update() {
    form.querySelectorAll("[data-depends-on]").forEach(function (wrapper) {
      var raw = wrapper.getAttribute("data-when");
      var show = true;
      if (raw) {
        var allowed = JSON.parse(raw).map(function (v) { return typeof v === "string" ? v : JSON.stringify(v); });
        show = allowed.indexOf(currentValue(wrapper.getAttribute("data-depends-on"))) !== -1;
      }
      wrapper.hidden = !show;
      wrapper.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !show; });
    });
  }

  form.addEventListener("change", update);
  update();
})();
