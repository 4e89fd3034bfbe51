"""The scale-out configuration, without any service running: generated endpoints and nginx
config keep secrets out of files and logs, the database URL file must live outside the
repository, and the cluster command refuses a database it cannot scale out on."""
from __future__ import annotations

import pytest


def test_generated_endpoints_keep_secrets_out_of_files_and_logs(tmp_path):
    from bot.ops.cluster import endpoints_yaml, load_cluster_config, mask_url, nginx_conf

    url = "postgresql://xiangyin:s3cr%40t@db.example:6543/xiangyin?sslmode=require"
    cfg = load_cluster_config({"XIANGYIN_DATABASE_URL": url, "XIANGYIN_MODE": "cluster",
                               "XIANGYIN_LOCK_STORE_URL": "redis://:r3dis@127.0.0.1:6380/2"}, var_dir=tmp_path)
    assert (cfg.rasa_replicas, cfg.action_replicas, cfg.lb_port) == (2, 2, 5080)
    text, secret_env = endpoints_yaml(cfg)
    assert "s3cr" not in text and "r3dis" not in text
    assert secret_env == {"XIANGYIN_TRACKER_STORE_PASSWORD": "s3cr@t", "XIANGYIN_LOCK_STORE_PASSWORD": "r3dis"}
    for needle in ("type: SQL", "dialect: postgresql", 'url: "db.example"', "port: 6543", 'db: "xiangyin"',
                   'username: "xiangyin"', "password: ${XIANGYIN_TRACKER_STORE_PASSWORD}", "type: redis", "db: 2"):
        assert needle in text
    assert "s3cr" not in cfg.describe() and "***" in mask_url(url)
    conf = nginx_conf(cfg)
    assert conf.count("server 127.0.0.1:51") == 2 and conf.count("server 127.0.0.1:52") == 2
    assert "non_idempotent" not in conf  # a POST that reached a replica is never replayed


def test_database_url_file_must_live_outside_the_repository(tmp_path):
    from bot.ops.cluster import ClusterConfigError, PROJECT_ROOT, load_cluster_config

    secret = tmp_path / "db-url"
    secret.write_text("postgresql://xiangyin:pw@127.0.0.1/xiangyin\n")
    cfg = load_cluster_config({"XIANGYIN_DATABASE_URL_FILE": str(secret)})
    assert cfg.database_url == "postgresql://xiangyin:pw@127.0.0.1/xiangyin"
    with pytest.raises(ClusterConfigError):
        load_cluster_config({"XIANGYIN_DATABASE_URL_FILE": str(PROJECT_ROOT / "README.md")})
    with pytest.raises(ClusterConfigError):
        load_cluster_config({"XIANGYIN_DATABASE_URL": "sqlite:///var/x.db"})


def test_cluster_command_refuses_sqlite_without_printing_secrets(capsys, monkeypatch):
    from bot.cli.main import main

    monkeypatch.setenv("XIANGYIN_DATABASE_URL", "mysql://root:hunter2@127.0.0.1/x")
    assert main(["cluster"]) == 2
    captured = capsys.readouterr()
    assert "postgresql" in captured.err and "hunter2" not in captured.err + captured.out
