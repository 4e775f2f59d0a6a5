// The admin's export page (templates/admin/import_export/export.html): "Select all" ticks or
// clears every column box. django-import-export does it with an inline onchange handler, which
// the Content-Security-Policy refuses.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    if (!event.target.matches(".export-form .select-toggle")) return;
    var checked = event.target.checked;
    document
      .querySelectorAll('.selectable-field-export-row input[type="checkbox"]')
      .forEach(function (box) {
        box.checked = checked;
      });
  });
})();
