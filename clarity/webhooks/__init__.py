"""Webhook ingress for every system that sends them: stored first, acted on by a job."""
