// dj-stripe's admin confirmation pages: show the "Loading..." spinner while a sync, cancel
// or delete runs (dj-stripe does it with inline handlers, which the CSP refuses).
(function () {
  "use strict";
  function busy(hideMain) {
    var spinner = document.getElementById("div_spinner");
    if (spinner) spinner.hidden = false;
    if (!hideMain) return;
    document.querySelectorAll("#main_content, .messagelist").forEach(function (el) {
      el.hidden = true;
    });
  }
  document.addEventListener("submit", function (event) {
    if (event.target.matches("#form_custom_action")) busy(true);
    else if (document.body.classList.contains("djstripe-delete")) busy(false);
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a");
    if (!link) return;
    if (link.matches(".cancel-link[data-djstripe-back]")) busy(true);
    else if (document.body.classList.contains("djstripe-delete")) busy(false);
  });
})();
