-- A counter that changes whenever what the technique list or the coverage metrics show may have
-- changed, whoever writes the file (the server, `aegis sync-mitre`, a restore): the server keeps the
-- rendered list and metrics while it stays the same, and reads only this one row per request.

CREATE TABLE catalogue_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO catalogue_version (id, version) VALUES (1, 1);

CREATE TRIGGER catalogue_version_technique_insert AFTER INSERT ON techniques
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_technique_delete AFTER DELETE ON techniques
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

-- Every column the list or the metrics show; a test change that only moves `test_count` or
-- `updated_at` leaves the rendered list valid.
CREATE TRIGGER catalogue_version_technique_update AFTER UPDATE ON techniques
WHEN OLD.id IS NOT NEW.id OR OLD.mitre_id IS NOT NEW.mitre_id OR OLD.name IS NOT NEW.name
  OR OLD.platforms IS NOT NEW.platforms OR OLD.is_subtechnique IS NOT NEW.is_subtechnique
  OR OLD.parent_mitre_id IS NOT NEW.parent_mitre_id OR OLD.revoked IS NOT NEW.revoked
  OR OLD.deprecated IS NOT NEW.deprecated OR OLD.status_global IS NOT NEW.status_global
  OR OLD.review_required IS NOT NEW.review_required
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_technique_tactics_insert AFTER INSERT ON technique_tactics
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_technique_tactics_update AFTER UPDATE ON technique_tactics
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_technique_tactics_delete AFTER DELETE ON technique_tactics
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_tactics_insert AFTER INSERT ON tactics
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_tactics_update AFTER UPDATE ON tactics
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER catalogue_version_tactics_delete AFTER DELETE ON tactics
BEGIN
    UPDATE catalogue_version SET version = version + 1 WHERE id = 1;
END;
