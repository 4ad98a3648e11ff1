-- Leader election: one row, held by the server that reconciles. `term`
-- grows by one whenever the holder changes; a reconciler's writes name the
-- term they were decided under and are refused once it is over (fencing).
-- Expiry is judged by the database's clock alone, so servers' clocks may differ.
CREATE TABLE livy_leader (
    id integer PRIMARY KEY CHECK (id = 1),
    holder text NOT NULL,
    term bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    rest_url text NOT NULL,
    callback text NOT NULL
);

-- Every live server, so a leader can tell drivers where to dial when it is
-- gone; rows of servers not seen for a while are removed by the others.
CREATE TABLE livy_servers (
    identity text PRIMARY KEY,
    rest_url text NOT NULL,
    callback text NOT NULL,
    seen_at timestamptz NOT NULL
);

-- The token servers present to each other when one forwards a caller's
-- request to the leader (written once, by the first server to start).
CREATE TABLE livy_cluster (
    id integer PRIMARY KEY CHECK (id = 1),
    peer_secret text NOT NULL
);
