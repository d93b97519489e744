"""The HTTP edge: the customer API, the admin API, health; errors become answers here."""
