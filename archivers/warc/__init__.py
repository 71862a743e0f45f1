"""WARC/1.1 files and their index.

writer.py  WarcWriter: gzip-per-record WARC into a hashing spool
cdxj.py    CDXJ index lines of a WARC (pywb's keys), stored beside it
"""
