"""The DNS plane's incremental zone update gives exactly what a full rebuild gives
(random CREATE/UPSERT/DELETE sequences over names, types, set identifiers, delegations)."""

import random

from nimbus.planes.dns.snapshot import build_zone, update_zone
from nimbus.services.route53 import records as R


class _Read:
    def __init__(self, docs):
        self.docs = docs

    def scan(self, kind, scope, prefix=""):
        return sorted((k, v) for k, v in self.docs.items() if k.startswith(prefix))

    def get(self, kind, key, scope):
        return self.docs.get(key)


class _Store:
    def __init__(self, docs):
        self.read = _Read(docs)


def test_incremental_zone_update_equals_full_rebuild():
    Z = "Z1"    ; zone={"Id":Z,"Name":"t.test.","created":0}
    def rr(n, t, v, **kw):
        return {"Name":n,"Type":t,"TTL":60,"ResourceRecords":[{"Value":x} for x in v],**kw}
    d={}
    def put(doc): d[R.rrset_key(Z,doc["Name"],doc["Type"],doc.get("SetIdentifier"))]=doc
    put(rr("t.test.","SOA",["ns. h. 1 2 3 4 5"])); put(rr("t.test.","NS",["ns1.x."])); put(rr("www.t.test.","A",["192.0.2.1"]))
    st=_Store(d); v=build_zone(st,"acct",zone)
    rng=random.Random(1)
    for step in range(300):
        keys=set()
        for _ in range(rng.randint(1,5)):
            name=rng.choice(["www","a.b","b","*.w","sub"])+".t.test."
            typ=rng.choice(["A","TXT","NS"]); sid=rng.choice([None,None,"x","y"])
            k=R.rrset_key(Z,name,typ,sid)
            if rng.random()<0.4: d.pop(k,None)
            else:
                val={"A":["192.0.2.%d"%rng.randint(1,9)],"TXT":['"x"'],"NS":["ns.y."]}[typ]
                doc=rr(name,typ,val,**({"SetIdentifier":sid,"Weight":1} if sid else {})); d[k]=doc
            keys.add(k)
        v=update_zone(st,v,zone,keys)
        full=build_zone(st,"acct",zone)
        def norm(view): return {n:{t:sorted((e.set_id or "",tuple(e.rdatas)) for e in es) for t,es in ty.items()} for n,ty in view.nodes.items()}
        assert norm(v)==norm(full),step
        assert v.existing==full.existing and v.delegations==full.delegations and v.soa==full.soa and v.records==full.records,step
