// The invoice form (templates/admin/invoice_form.html). The services' data is the page's
// <script type="application/json" id="service-data"> block: data, which the CSP allows.
// Prefill a line from its service, as the server would for blank fields.
const services = JSON.parse(document.getElementById("service-data").textContent);
document.querySelectorAll("[data-line]").forEach((row) => {
  row.querySelector("[data-service]").addEventListener("change", (event) => {
    const s = services[event.target.value];
    if (!s) return;
    row.querySelector("[data-description]").value = s.description;
    row.querySelector("[data-price]").value = s.unit_price;
    const qty = row.querySelector("[data-quantity]");
    if (!qty.value) qty.value = "1";
  });
});
