"""Mirage guard service: decides, for every stored WhatsApp message, whether Mirage answers it."""
