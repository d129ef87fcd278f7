// The pages' only script (CSP: script-src 'self'). Everything works without it; it only keeps the
// state screen readers see in step with what htmx swapped in.

// A field checked as one types (the rule's query): its aria-invalid follows the live check's answer.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail.target;
  if (!target || !target.dataset || !target.dataset.checks) return;
  var input = document.getElementById(target.dataset.checks);
  if (!input) return;
  if (target.querySelector(".error")) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
});
