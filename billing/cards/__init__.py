"""Paying by card in the portal: attempts and payment settings, the limits on tries, the
gateway interface and its Stripe adapter, and Stripe's webhook events."""
