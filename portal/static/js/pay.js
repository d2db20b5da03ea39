// The pay page's card flow (templates/member/pay.html): Stripe Elements, then the portal's
// setup and charge endpoints. A static file so the CSP needs no 'unsafe-inline'; its values
// come from the form's data- attributes.
(function () {
  const form = document.getElementById('card-form');
  const errors = document.getElementById('card-errors');
  const status = document.getElementById('card-status');
  const submit = document.getElementById('card-submit');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const stripe = Stripe(form.dataset.publishableKey);
  const card = stripe.elements().create('card');
  card.mount('#card-element');

  async function post(url, fields) {
    const response = await fetch(url, {
      method: 'POST',
      headers: {'X-CSRFToken': csrf, 'Accept': 'application/json'},
      body: new URLSearchParams(fields),
      credentials: 'same-origin',
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok || answer.status === 'error') {
      throw new Error(answer.message || 'The payment could not be started. Please try again.');
    }
    return answer;
  }

  function fail(message) {
    errors.textContent = message;
    status.textContent = '';
    submit.disabled = false;
  }

  form.addEventListener('submit', async function (event) {
    event.preventDefault();
    errors.textContent = '';
    submit.disabled = true;
    status.textContent = 'Processing…';
    const amount = form.elements.amount.value;
    try {
      const setup = await post(form.dataset.setupUrl, {amount: amount});
      const confirmed = await stripe.confirmCardSetup(setup.client_secret, {payment_method: {card: card}});
      if (confirmed.error) { return fail(confirmed.error.message || 'Your card could not be used.'); }
      const method = confirmed.setupIntent.payment_method;
      const paymentMethod = typeof method === 'string' ? method : method.id;
      const charged = await post(form.dataset.chargeUrl, {amount: amount, payment_method: paymentMethod});
      if (charged.status === 'failed') { return fail(charged.message); }
      if (charged.status === 'unknown') {
        // Stripe did not answer: the invoice page says so and offers "Check now".
        status.textContent = charged.message;
        return window.location.assign(charged.redirect);
      }
      if (charged.status === 'requires_action') {
        const authenticated = await stripe.confirmCardPayment(charged.client_secret);
        if (authenticated.error) { return fail(authenticated.error.message || 'Your card was not authenticated.'); }
        // The same amount again resumes that payment: the portal reads it back from Stripe,
        // so the invoice page says "processing" rather than "waiting for 3-D Secure".
        await post(form.dataset.chargeUrl, {amount: amount, payment_method: paymentMethod});
      }
      window.location.assign(charged.redirect);
    } catch (error) {
      fail(error.message);
    }
  });
})();
