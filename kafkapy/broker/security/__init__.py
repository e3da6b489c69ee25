"""Authentication of client connections: SASL PLAIN and SCRAM on SASL_PLAINTEXT listeners.

* ``jaas.py``: the JAAS configuration syntax of ``sasl.jaas.config``;
* ``principal.py``: ``KafkaPrincipal`` and where a connection keeps it;
* ``listener_security.py``: which listener authenticates how, and the settings kafkapy
  cannot honour (refused at start-up, never a silent downgrade);
* ``plain.py``, ``scram.py``: the mechanisms' server sides (sans-I/O);
* ``authenticator.py``: a connection's SASL state machine (Kafka's ``SaslServerAuthenticator``).
"""
