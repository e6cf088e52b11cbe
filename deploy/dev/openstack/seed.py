"""Seed the local dev OpenStack from a scenario YAML (see scenario-demo.yaml). Idempotent by name.

    flavors:  [{name, vcpus, ram (MiB), disk (GiB)}]
    projects: [{name, description, tags: [..], properties: {key: value}, quotas: {compute: {..}, volume: {..}}}]
    servers:  [{name, project, flavor, count}]   count > 1 -> NAME-1 .. NAME-count
    volumes:  [{name, project, size (GiB)}]

Servers boot with networks="none" from a 1 MiB raw image uploaded once, 8 at a time, each as the admin user scoped
to the server's project (admin gets the admin role there), and are waited for until ACTIVE.
Uses OS_CLIENT_CONFIG_FILE, cloud yunguan-local (admin).
"""

import argparse
import io
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import openstack
import yaml

IMAGE_NAME = "yunguan-tiny"
IMAGE_SIZE = 1024 * 1024
THREADS = 8
_local = threading.local()


def log(msg):
    print(msg, flush=True)


def ensure_flavors(conn, flavors):
    existing = {f.name: f for f in conn.compute.flavors(is_public=None)}
    out = {}
    for f in flavors:
        cur = existing.get(f["name"])
        want = (int(f["vcpus"]), int(f["ram"]), int(f["disk"]))
        if cur is None:
            cur = conn.compute.create_flavor(name=f["name"], vcpus=want[0], ram=want[1], disk=want[2], is_public=True)
            log(f"flavor {f['name']}: created")
        elif (cur.vcpus, cur.ram, cur.disk) != want:
            log(f"flavor {f['name']}: exists with different size {(cur.vcpus, cur.ram, cur.disk)}, kept")
        out[f["name"]] = cur
    return out


def ensure_projects(conn, projects, domain_id):
    idn = conn.identity
    admin_user = idn.find_user("admin", domain_id=domain_id)
    admin_role = idn.find_role("admin")
    out = {}
    for p in projects:
        props = dict(p.get("properties") or {})
        attrs = dict(description=p.get("description", ""), tags=list(p.get("tags") or []), **props)
        cur = idn.find_project(p["name"], domain_id=domain_id)
        if cur is None:
            cur = idn.create_project(name=p["name"], domain_id=domain_id, is_enabled=True, **attrs)
            log(f"project {p['name']}: created")
        else:
            cur = idn.update_project(cur, **attrs)
        idn.assign_project_role_to_user(cur, admin_user, admin_role)
        quotas = p.get("quotas") or {}
        if quotas.get("compute"):
            conn.set_compute_quotas(cur.id, **quotas["compute"])
        if quotas.get("volume"):
            conn.set_volume_quotas(cur.id, **quotas["volume"])
        out[p["name"]] = cur
    return out


def ensure_image(conn):
    img = conn.image.find_image(IMAGE_NAME)
    if img is not None and img.status == "active":
        return img
    if img is not None:
        conn.image.delete_image(img)
    img = conn.image.create_image(
        IMAGE_NAME,
        data=io.BytesIO(b"\0" * IMAGE_SIZE),
        disk_format="raw",
        container_format="bare",
        visibility="public",
        wait=True,
        timeout=120,
    )
    log(f"image {IMAGE_NAME}: uploaded")
    return img


def project_conn(conn, project):
    """One connection per (thread, project): admin scoped to the project."""
    cache = getattr(_local, "conns", None)
    if cache is None:
        cache = _local.conns = {}
    if project.id not in cache:
        cache[project.id] = conn.connect_as_project(
            {"id": project.id, "name": project.name, "domain_id": project.domain_id}
        )
    return cache[project.id]


def boot(conn, project, name, flavor, image):
    pc = project_conn(conn, project)
    srv = pc.compute.create_server(name=name, flavor_id=flavor.id, image_id=image.id, networks="none")
    srv = pc.compute.wait_for_server(srv, status="ACTIVE", failures=["ERROR"], interval=1, wait=300)
    return name


def make_volume(conn, project, name, size):
    pc = project_conn(conn, project)
    vol = pc.block_storage.create_volume(name=name, size=int(size))
    pc.block_storage.wait_for_status(vol, status="available", failures=["error"], interval=1, wait=120)
    return name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--cloud", default="yunguan-local")
    args = ap.parse_args()
    with open(args.scenario, encoding="utf-8") as fh:  # noqa: PTH123 - a plain script argument
        sc = yaml.safe_load(fh) or {}
    t0 = time.monotonic()
    conn = openstack.connect(cloud=args.cloud)
    domain = conn.identity.find_domain("default")
    flavors = ensure_flavors(conn, sc.get("flavors") or [])
    projects = ensure_projects(conn, sc.get("projects") or [], domain.id)

    # what exists already, by (project id, name)
    servers = {}
    for s in conn.compute.servers(all_projects=True, details=True):
        servers[(s.project_id, s.name)] = s
    volumes = {}
    for v in conn.block_storage.volumes(all_projects=True, details=True):
        volumes[(v.project_id, v.name)] = v

    def project_of(entry):
        if entry["project"] not in projects:
            pr = conn.identity.find_project(entry["project"], domain_id=domain.id)
            if pr is None:
                raise SystemExit(f"unknown project {entry['project']!r} in {entry}")
            projects[entry["project"]] = pr
        return projects[entry["project"]]

    todo_servers = []
    for entry in sc.get("servers") or []:
        project = project_of(entry)
        count = int(entry.get("count", 1))
        names = [entry["name"]] if count == 1 else [f"{entry['name']}-{i}" for i in range(1, count + 1)]
        flavor = flavors.get(entry["flavor"]) or conn.compute.find_flavor(entry["flavor"], ignore_missing=False)
        for name in names:
            cur = servers.get((project.id, name))
            if cur is not None and cur.status == "ERROR":
                log(f"server {name}: in ERROR, recreating")
                conn.compute.delete_server(cur)
                conn.compute.wait_for_delete(cur, wait=120)
                cur = None
            if cur is None:
                todo_servers.append((project, name, flavor))
    todo_volumes = []
    for entry in sc.get("volumes") or []:
        project = project_of(entry)
        if (project.id, entry["name"]) not in volumes:
            todo_volumes.append((project, entry["name"], entry["size"]))

    image = ensure_image(conn) if todo_servers else None
    failed = []
    with ThreadPoolExecutor(THREADS) as pool:
        futs = {pool.submit(boot, conn, p, n, f, image): f"server {n}" for p, n, f in todo_servers}
        futs.update({pool.submit(make_volume, conn, p, n, s): f"volume {n}" for p, n, s in todo_volumes})
        for fut in as_completed(futs):
            try:
                fut.result()
            except Exception as e:  # report all failures, then fail
                failed.append(f"{futs[fut]}: {type(e).__name__}: {e}")
    for f in failed:
        log(f"FAILED {f}")
    log(
        f"seeded {len(flavors)} flavors, {len(projects)} projects, "
        f"{len(todo_servers)} new servers, {len(todo_volumes)} new volumes "
        f"in {time.monotonic() - t0:.1f}s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
