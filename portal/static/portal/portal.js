// The portal's own behaviour, kept out of the pages (the Content-Security-Policy allows no
// inline script).
(function () {
  "use strict";
  // form[data-submit-once]: a second click waits for the first (the server also refuses a
  // double charge).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-submit-once]")) return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
})();
