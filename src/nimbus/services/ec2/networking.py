"""Amazon VPC networking: the ``NetworkingOperations`` mixin of the EC2 provider.

Records and rules live in ``net_records``/``net_security``; each resource family's
operations in a ``net_ops_*`` module; what other EC2 areas use is ``network_api``.
"""

from __future__ import annotations

from .net_ops_connect import ConnectOperations
from .net_ops_gateways import GatewayOperations
from .net_ops_security import SecurityOperations
from .net_ops_vpc import VpcOperations


class NetworkingOperations(VpcOperations, SecurityOperations, GatewayOperations, ConnectOperations):
    """VPCs, subnets, gateways, route tables, security groups, NACLs, ENIs, EIPs, peering, endpoints, VPN."""
