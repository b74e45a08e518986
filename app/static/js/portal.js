// Small behaviours every page may use; loaded from the site itself (the CSP forbids inline scripts).
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) el.form.submit();
});
