"""RDS option groups: recorded and validated (the audit plugin option of mysql/mariadb),
defaults per engine and major version, membership of instances, deletion rules."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from test_rds import code, create, wait_status

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def rds(nimbus):
    return nimbus.client("rds", region=REGION)


def test_option_groups_are_validated_and_used_by_instances(rds, nimbus):
    bad = [
        (dict(OptionGroupName="1bad", EngineName="mysql", MajorEngineVersion="8.0", OptionGroupDescription="x"), "InvalidParameterValue"),
        (dict(OptionGroupName="og", EngineName="oracle-ee", MajorEngineVersion="19", OptionGroupDescription="x"), "InvalidParameterValue"),
        (dict(OptionGroupName="og", EngineName="mysql", MajorEngineVersion="5.5", OptionGroupDescription="x"), "InvalidParameterValue"),
    ]
    for params, want in bad:
        with pytest.raises(ClientError) as exc:
            rds.create_option_group(**params)
        assert code(exc) == want, params
    out = json.loads(nimbus.aws("rds", "create-option-group", "--option-group-name", "audit", "--engine-name", "mariadb",
                                "--major-engine-version", "10.11", "--option-group-description", "audit log",
                                region=REGION).stdout)["OptionGroup"]
    assert out["OptionGroupName"] == "audit" and out["Options"] == [] and out["OptionGroupArn"].endswith(":og:audit")
    with pytest.raises(ClientError) as exc:
        rds.create_option_group(OptionGroupName="audit", EngineName="mariadb", MajorEngineVersion="10.11", OptionGroupDescription="x")
    assert code(exc) == "OptionGroupAlreadyExistsFault"
    for include, want in [
        ([{"OptionName": "NO_SUCH_OPTION"}], "InvalidParameterValue"),
        ([{"OptionName": "MARIADB_AUDIT_PLUGIN", "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT,BOGUS"}]}],
         "InvalidParameterValue"),
        ([{"OptionName": "MARIADB_AUDIT_PLUGIN", "OptionSettings": [{"Name": "SERVER_AUDIT_FILE_ROTATIONS", "Value": "500"}]}],
         "InvalidParameterValue"),
        ([{"OptionName": "MARIADB_AUDIT_PLUGIN", "Port": 1234}], "InvalidParameterCombination"),
    ]:
        with pytest.raises(ClientError) as exc:
            rds.modify_option_group(OptionGroupName="audit", OptionsToInclude=include, ApplyImmediately=True)
        assert code(exc) == want, include
    assert rds.describe_option_groups(OptionGroupName="audit")["OptionGroupsList"][0]["Options"] == []  # nothing changed
    group = rds.modify_option_group(OptionGroupName="audit", ApplyImmediately=True, OptionsToInclude=[
        {"OptionName": "MARIADB_AUDIT_PLUGIN", "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT,QUERY_DDL"}]}])["OptionGroup"]
    settings = {s["Name"]: s["Value"] for s in group["Options"][0]["OptionSettings"]}
    assert group["Options"][0]["OptionName"] == "MARIADB_AUDIT_PLUGIN" and settings["SERVER_AUDIT_EVENTS"] == "CONNECT,QUERY_DDL"
    assert settings["SERVER_AUDIT_FILE_ROTATIONS"] == "9"  # the default
    # Defaults exist per engine and major version and cannot change; PostgreSQL has no options.
    names = [g["OptionGroupName"] for g in rds.describe_option_groups(EngineName="mysql")["OptionGroupsList"]]
    assert "default:mysql-8-0" in names and "audit" not in names
    with pytest.raises(ClientError) as exc:
        rds.modify_option_group(OptionGroupName="default:mysql-8-0", OptionsToInclude=[{"OptionName": "MARIADB_AUDIT_PLUGIN"}])
    assert code(exc) == "InvalidParameterValue"
    assert rds.describe_option_group_options(EngineName="postgres", MajorEngineVersion="17")["OptionGroupOptions"] == []
    with pytest.raises(ClientError) as exc:
        rds.describe_option_groups(OptionGroupName="missing")
    assert code(exc) == "OptionGroupNotFoundFault"
    # Instances: the group must match engine and major version; a group in use stays.
    with pytest.raises(ClientError) as exc:
        create(rds, "og-pg", OptionGroupName="audit")
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        create(rds, "og-pg", OptionGroupName="missing")
    assert code(exc) == "OptionGroupNotFoundFault"
    pg_db = create(rds, "og-pg")
    assert pg_db["OptionGroupMemberships"][0]["OptionGroupName"] == "default:postgres-17"
    db = create(rds, "og-maria", engine="mariadb", OptionGroupName="audit")
    assert db["OptionGroupMemberships"] == [{"OptionGroupName": "audit", "Status": "in-sync"}]
    with pytest.raises(ClientError) as exc:
        rds.delete_option_group(OptionGroupName="audit")
    assert code(exc) == "InvalidOptionGroupStateFault"
    wait_status(rds, "og-maria")
    rds.modify_db_instance(DBInstanceIdentifier="og-maria", OptionGroupName="default:mariadb-10-11", ApplyImmediately=True)
    rds.remove_tags_from_resource(ResourceName=group["OptionGroupArn"], TagKeys=["none"])  # an og ARN is a tag target
    rds.delete_option_group(OptionGroupName="audit")
    with pytest.raises(ClientError) as exc:
        rds.describe_option_groups(OptionGroupName="audit")
    assert code(exc) == "OptionGroupNotFoundFault"
    for ident in ("og-pg", "og-maria"):
        rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
