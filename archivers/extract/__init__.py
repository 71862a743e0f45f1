"""Pure parsers over fetched text: no I/O, no yt-dlp.

requisites.py  the images, stylesheets, scripts and fonts a page needs to replay
media.py       the media a page carries (og:video, <video>, HLS/DASH links, embeds)
post.py        the post's own identity as the page states it (id, author, time)
"""
