"""Asynchronous (`Event`) Lambda invocations: queue, retries, destinations and their inspection."""
