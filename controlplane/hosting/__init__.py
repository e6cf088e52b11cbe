"""The hosting zone (托管, Suining 7(3), Chongqing 13): a unit's own servers, network and special equipment placed in
the cloud centre, where the vendor gives room, power and network. Vendors register each piece of equipment here;
reconcile compares what they registered with the ledger's hosting allocations.

``model`` the frozen equipment and the pure rack rules, ``scope`` who sees what, ``store`` the register, update and
retire transactions the API and the CLI share, ``evidence`` the receipts and certificates kept by SHA-256, ``form``
the registration file, ``api`` the HTTP routes.
"""
