"""Where messages come from: CSV/TSV/JSONL files (``cmtui.ingest``; chats and calls,
``chat``) and mail (``mail``: an mbox, a Maildir, a folder of ``.eml`` files or one
``.eml``), told apart by their content; ``read.read_source`` reads any of them. Every
message gets its ``language`` (``language``).
"""
