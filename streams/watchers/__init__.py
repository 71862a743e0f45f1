"""Discovery: watchers that find new post URLs and put them on the ingest topic.

The route of an item, module by module:

    definitions   a Watch: kind, URL, period, tags (and the WatchSeen record)
    settings      WatchSettings, built once by the entry point
    feeds, telegram, sitemaps, links
                  pure parsers: a fetched body → the item URLs it lists
    items, xmldoc what the parsers share: Item, MalformedSource, safe XML parsing
    kinds         the parser of each kind, by name
    book          what is watched and what each watch has already seen
    log           the book kept in two compacted topics (read and written)
    runner        the loop in the worker: fetch when due, parse, submit the new, remember

Parsers never do I/O and raise ``MalformedSource`` (a stable ``reason`` and a
human sentence) for a body they cannot read; nothing else escapes them.
"""
