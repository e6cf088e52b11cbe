"""Notices: what a finding's escalation (and an enforcement's maintenance window) tells the using unit, recorded in
the store (``outbox``), rendered in Chinese and English (``text``) and delivered by signed webhook (``webhook``) and
e-mail (``mail``), configured under ``notices:`` (``settings``)."""
