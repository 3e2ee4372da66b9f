"""The I/O shell: per-chat workers, durable files, the rate-limited sender, and the
process's own state beside the chats (held updates, recent sends, the lock, logs,
systemd's socket)."""
