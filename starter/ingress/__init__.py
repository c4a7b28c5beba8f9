"""Provider ingress: signature checks and parsers that turn webhook bodies, polled pages and
CSV rows into `VisitEvent`s. Pure code over bytes and headers; no database, no Temporal."""
