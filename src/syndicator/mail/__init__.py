"""Email: subscribers' mail is rendered once per distinct content, queued in an outbox, delivered."""
