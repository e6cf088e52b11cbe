"""Keystone bootstrap for the local dev OpenStack: service project, roles, service users, catalog.

One openstacksdk process instead of dozens of `openstack` CLI calls (~5 s each). Idempotent.
Reads the admin credentials from OS_CLIENT_CONFIG_FILE, cloud yunguan-local.
"""

import argparse
import sys
import time

import openstack

REGION = "RegionOne"
HOST = "http://127.0.0.1"
# (service name, type, url, user or None)
SERVICES = [
    ("placement", "placement", f"{HOST}:8778", "placement"),
    ("nova", "compute", f"{HOST}:8774/v2.1", "nova"),
    ("glance", "image", f"{HOST}:9292", "glance"),
    ("neutron", "network", f"{HOST}:9696", "neutron"),
    ("cinderv3", "volumev3", f"{HOST}:8776/v3/%(project_id)s", "cinder"),
]


def ensure_role(conn, name):
    return conn.identity.find_role(name) or conn.identity.create_role(name=name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--password", required=True, help="password of every service user")
    ap.add_argument("--cloud", default="yunguan-local")
    args = ap.parse_args()
    t0 = time.monotonic()
    conn = openstack.connect(cloud=args.cloud)
    idn = conn.identity
    domain = idn.find_domain("default") or idn.find_domain("Default")
    service_project = idn.find_project("service", domain_id=domain.id) or idn.create_project(
        name="service", domain_id=domain.id, description="OpenStack service users"
    )
    admin_role = ensure_role(conn, "admin")
    service_role = ensure_role(conn, "service")
    for name in ("member", "reader"):
        ensure_role(conn, name)

    for _, _, _, user in SERVICES:
        if not user:
            continue
        u = idn.find_user(user, domain_id=domain.id)
        if u is None:
            u = idn.create_user(name=user, password=args.password, domain_id=domain.id)
        else:
            idn.update_user(u, password=args.password)
        for role in (admin_role, service_role):
            idn.assign_project_role_to_user(service_project, u, role)

    existing = {(s.name, s.type): s for s in idn.services()}
    endpoints = list(idn.endpoints())
    for name, stype, url, _ in SERVICES:
        svc = existing.get((name, stype)) or idn.create_service(name=name, type=stype, is_enabled=True)
        for iface in ("public", "internal", "admin"):
            if not any(e.service_id == svc.id and e.interface == iface for e in endpoints):
                idn.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=REGION)
    print(f"bootstrap done in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
