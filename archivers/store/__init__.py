"""Object storage: one interface, its implementations, the bucket layout.

base.py    ObjectStore (the interface), StoredObject, StoreSettings
s3.py      S3Store on any S3-compatible server (boto3), and the one client factory
memory.py  MemoryStore: the in-package fake, for unit tests of one module
layout.py  capture ids and every key in the bucket
"""
