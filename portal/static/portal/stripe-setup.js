// Saving a card with Stripe Elements (payment_methods.html): the card details go from
// Stripe's iframe to Stripe; this page posts only the confirmed SetupIntent's id.
(function () {
  "use strict";
  var form = document.getElementById("stripe-form");
  if (!form || typeof Stripe === "undefined") return;
  var stripe = Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#payment-element");
  var back = new URLSearchParams(window.location.search);
  if (back.get("redirect_status") === "succeeded" && back.get("setup_intent")) {
    form.elements.token.value = back.get("setup_intent");  // back from the bank's page
    form.submit();
    return;
  }
  var saving = false;
  form.addEventListener("submit", function (event) {
    if (form.elements.token.value) return;  // confirmed: post the SetupIntent id
    event.preventDefault();
    if (saving) return;
    saving = true;
    document.getElementById("stripe-submit").disabled = true;
    stripe.confirmSetup({
      elements: elements,
      redirect: "if_required",  // cards confirm in place; a bank redirect comes back here
      confirmParams: { return_url: window.location.href.split("?")[0] }
    }).then(function (result) {
      if (result.error) {
        document.getElementById("stripe-errors").textContent = result.error.message;
        document.getElementById("stripe-submit").disabled = false;
        saving = false;
        return;
      }
      form.elements.token.value = result.setupIntent.id;
      form.submit();
    });
  });
})();
