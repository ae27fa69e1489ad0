"""The policy language on its own: validation, wildcards, variables, every condition operator."""

from __future__ import annotations

import json

import pytest

from nimbus.iam.conditions import compile_conditions
from nimbus.iam.policy import PolicyError, compile_policy, glob_match, parse_document


class Ctx(dict):
    def get(self, key, default=None):  # condition keys are case-insensitive
        return super().get(key.lower(), default)


def cond(block, **values):
    return compile_conditions(block)(Ctx({k.replace("__", ":").replace("_", "/").lower() if False else k.lower(): v for k, v in values.items()}))


def check(block, context):
    return compile_conditions(block)(Ctx({k.lower(): v for k, v in context.items()}))


def test_wildcards():
    assert glob_match("s3:Get*", "s3:getobject", ignore_case=True)
    assert not glob_match("s3:Get*", "s3:PutObject", ignore_case=True)
    assert glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c")
    assert not glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::B/x")
    assert glob_match("arn:aws:s3:::b?", "arn:aws:s3:::bx")


@pytest.mark.parametrize(
    "doc, reason",
    [
        ("not json", "Syntax errors in policy."),
        ('{"Version": "2012-10-17"}', "Missing required field Statement"),
        ('{"Version": "2013-01-01", "Statement": []}', "legacy parsing"),
        ('{"Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}', "Effect"),
        ('{"Statement": [{"Effect": "Allow", "Action": "getobject", "Resource": "*"}]}', "vendor"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}]}', "ARN format"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}', "must contain resources"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}]}', "should not specify a principal"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEqualz": {"a:b": "c"}}}]}', "Invalid Condition type"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}]}', "both Action and NotAction"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Bogus": 1}]}', "Unknown field"),
    ],
)
def test_malformed_documents_are_refused_with_a_reason(doc, reason):
    with pytest.raises(PolicyError, match=reason):
        parse_document(doc)


def test_size_limit():
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{'b' * 60}/{i}"} for i in range(100)]})
    with pytest.raises(PolicyError, match="PolicySize"):
        parse_document(doc, max_size=6144)


def test_resource_policies_need_principals():
    with pytest.raises(PolicyError, match="principal"):
        parse_document('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}', kind="resource")
    parse_document('{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:*", "Resource": "*"}]}', kind="resource")


def test_policy_variables_in_resources():
    policy = compile_policy({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:username}/*"}]})
    st = policy.statements[0]
    assert st.matches_resource("arn:aws:s3:::home/alice/x", Ctx({"aws:username": "alice"}))
    assert not st.matches_resource("arn:aws:s3:::home/bob/x", Ctx({"aws:username": "alice"}))
    assert not st.matches_resource("arn:aws:s3:::home/alice/x", Ctx({}))  # no value: no match
    default = compile_policy({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username, 'guest'}"}]})
    assert default.statements[0].matches_resource("arn:aws:s3:::b/guest", Ctx({}))
    literal = compile_policy({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${*}"}]})
    assert literal.statements[0].matches_resource("arn:aws:s3:::b/*", Ctx({}))
    assert not literal.statements[0].matches_resource("arn:aws:s3:::b/x", Ctx({}))


def test_string_operators():
    assert check({"StringEquals": {"aws:username": ["bob", "alice"]}}, {"aws:username": "alice"})
    assert not check({"StringEquals": {"aws:username": "Alice"}}, {"aws:username": "alice"})
    assert check({"StringEqualsIgnoreCase": {"aws:username": "Alice"}}, {"aws:username": "alice"})
    assert check({"StringNotEquals": {"aws:username": "bob"}}, {"aws:username": "alice"})
    assert check({"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/alice/"})
    assert not check({"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/alice/"})
    # missing keys: positive operators fail, negated ones pass, IfExists passes
    assert not check({"StringEquals": {"s3:prefix": "x"}}, {})
    assert check({"StringNotEquals": {"s3:prefix": "x"}}, {})
    assert check({"StringEqualsIfExists": {"s3:prefix": "x"}}, {})
    assert not check({"StringEqualsIfExists": {"s3:prefix": "x"}}, {"s3:prefix": "y"})


def test_numeric_date_bool_binary_ip_arn_null():
    assert check({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"})
    assert not check({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"})
    assert check({"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}}, {"aws:multifactorauthage": "7200"})
    assert check({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:currenttime": "2024-05-01T00:00:00Z"})
    assert check({"DateLessThan": {"aws:EpochTime": "2000000000"}}, {"aws:epochtime": "1700000000"})
    assert check({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": "false"})
    assert check({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": "false"})
    assert check({"BinaryEquals": {"k:bin": "aGVsbG8="}}, {"k:bin": "aGVsbG8="})
    assert check({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"})
    assert check({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}, {"aws:sourceip": "127.0.0.1"})
    assert check({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin-*"}}, {"aws:principalarn": "arn:aws:iam::123456789012:role/admin-x"})
    assert not check({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/a"}}, {"aws:principalarn": "arn:aws:iam::1:role/b"})
    assert check({"Null": {"aws:TokenIssueTime": "true"}}, {})
    assert not check({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:tokenissuetime": "2024-01-01T00:00:00Z"})


def test_set_operators():
    block_any = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}}
    assert check(block_any, {"aws:tagkeys": ["env", "other"]})
    assert not check(block_any, {"aws:tagkeys": ["other"]})
    assert not check(block_any, {})
    block_all = {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}
    assert check(block_all, {"aws:tagkeys": ["env", "team"]})
    assert not check(block_all, {"aws:tagkeys": ["env", "cost"]})
    assert check(block_all, {})  # vacuously true, as AWS documents


def test_condition_variables_and_and_or():
    block = {"StringEquals": {"aws:PrincipalTag/team": "${aws:RequestTag/team}", "aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}
    assert check(block, {"aws:principaltag/team": "red", "aws:requesttag/team": "red", "aws:requestedregion": "eu-west-1"})
    assert not check(block, {"aws:principaltag/team": "red", "aws:requesttag/team": "blue", "aws:requestedregion": "eu-west-1"})
    assert not check(block, {"aws:principaltag/team": "red", "aws:requesttag/team": "red", "aws:requestedregion": "ap-south-1"})


def test_bad_condition_values():
    for block in (
        {"NumericEquals": {"s3:max-keys": "ten"}},
        {"IpAddress": {"aws:SourceIp": "999.1.1.1/8"}},
        {"Bool": {"aws:SecureTransport": "maybe"}},
        {"DateEquals": {"aws:CurrentTime": "yesterday"}},
        {"ForSomeValues:StringEquals": {"a:b": "c"}},
        {"StringEquals": "a"},
    ):
        with pytest.raises(ValueError):
            compile_conditions(block)
