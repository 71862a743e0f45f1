"""Kafka outside faust: producing and reading, for commands, the viewer and checks.

producer.py  Submitter: validated submissions and resends (kafka-python)
reader.py    TopicReader: the one reader of topics outside the agents
feed.py      the viewer's capture feed, following the captures topic
eventlog.py  "is this capture's event already published?" (the redelivery check)
"""
