"""Where messages come from: CSV/TSV/JSONL files (``cmtui.ingest``, chats and calls
included, ``chat``), and mail (``mail``): an mbox, a Maildir, a folder of ``.eml`` files or
one ``.eml``, told apart by their content. Every message gets its ``language`` (``language``). ``read.read_source`` reads any of them."""
