"""The pure core: the spec's files as values, the argument grammar, what each command
does, and the HTML it answers with. No aiogram, no I/O, no clock."""
