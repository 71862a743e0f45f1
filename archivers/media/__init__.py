"""Media capture: the video in a post, at full quality, stored once per content.

archiver.py  MediaArchiver: the media agent's work function
ytdlp.py     yt-dlp, fenced: the one module that knows it
ffmpeg.py    ffprobe facts, posters and playable copies, on local files only
"""
