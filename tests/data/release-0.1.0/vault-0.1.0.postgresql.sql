--
-- PostgreSQL database dump
--

\restrict mdeSJjvwop9YfbJzRhDNBlwaiZugFUmbV4rRnITxvMVHlZ9X096W05Azg8eGPHR

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_tokens (
    token_hash character varying(64) NOT NULL,
    user_id integer NOT NULL,
    label character varying(100) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL
);


--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    sequence bigint NOT NULL,
    at character varying(40) NOT NULL,
    actor character varying(100) NOT NULL,
    action character varying(40) NOT NULL,
    subject character varying(100) NOT NULL,
    details text NOT NULL,
    previous_hash character varying(64) NOT NULL,
    record_hash character varying(64) NOT NULL
);


--
-- Name: devices; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.devices (
    id uuid NOT NULL,
    agent_user_id integer NOT NULL,
    public_key character varying(200) NOT NULL,
    hostname character varying(255) NOT NULL,
    enrolled_at timestamp without time zone NOT NULL,
    revoked_at timestamp without time zone,
    heartbeat_at timestamp without time zone,
    agent_version character varying(64),
    backlog_segments integer,
    backlog_bytes bigint
);


--
-- Name: enrol_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.enrol_tokens (
    token_hash character varying(64) NOT NULL,
    agent_user_id integer NOT NULL,
    created_by character varying(64) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL,
    used_at timestamp without time zone
);


--
-- Name: recording_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.recording_keys (
    recording_id uuid NOT NULL,
    key_id bytea NOT NULL,
    sealed_key bytea NOT NULL
);


--
-- Name: recordings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.recordings (
    id uuid NOT NULL,
    session_id uuid NOT NULL,
    device_id uuid NOT NULL,
    agent_user_id integer NOT NULL,
    purpose character varying(32) NOT NULL,
    started_at timestamp without time zone NOT NULL,
    registered_at timestamp without time zone NOT NULL,
    state character varying(16) NOT NULL,
    keep_until timestamp without time zone NOT NULL,
    delete_at timestamp without time zone NOT NULL,
    hold_reason character varying(500),
    hold_by character varying(64),
    shredded_at timestamp without time zone
);


--
-- Name: releases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.releases (
    id uuid NOT NULL,
    recording_id uuid NOT NULL,
    requester_id integer NOT NULL,
    purpose character varying(32) NOT NULL,
    recipient character varying(200) NOT NULL,
    reason character varying(1000) NOT NULL,
    requested_at timestamp without time zone NOT NULL,
    authoriser_id integer,
    authorised_at timestamp without time zone
);


--
-- Name: request_nonces; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.request_nonces (
    device_id uuid NOT NULL,
    nonce character varying(32) NOT NULL,
    seen_at timestamp without time zone NOT NULL
);


--
-- Name: schema_info; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_info (
    version integer NOT NULL
);


--
-- Name: schema_info_version_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.schema_info_version_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: schema_info_version_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.schema_info_version_seq OWNED BY public.schema_info.version;


--
-- Name: segments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.segments (
    recording_id uuid NOT NULL,
    segment_index bigint NOT NULL,
    sha256 character varying(64) NOT NULL,
    size integer NOT NULL,
    media_type integer NOT NULL,
    blob_key character varying(100) NOT NULL,
    stored_at timestamp without time zone NOT NULL,
    deleted_at timestamp without time zone
);


--
-- Name: training_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.training_sessions (
    id uuid NOT NULL,
    trainer_id integer NOT NULL,
    agent_user_id integer,
    team character varying(64),
    calls_allowed integer NOT NULL,
    calls_used integer NOT NULL,
    purpose character varying(32) NOT NULL,
    notice_text character varying(2000) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL,
    ended_at timestamp without time zone
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id integer NOT NULL,
    username character varying(64) NOT NULL,
    password_hash character varying(200),
    roles character varying(200) NOT NULL,
    team character varying(64),
    created_at timestamp without time zone NOT NULL,
    disabled_at timestamp without time zone
);


--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: users_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;


--
-- Name: schema_info version; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_info ALTER COLUMN version SET DEFAULT nextval('public.schema_info_version_seq'::regclass);


--
-- Name: users id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);


--
-- Data for Name: api_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.api_tokens VALUES ('3291c694218831b3c816fdd990baa0f2513ee31280ee4f91d1c627dca8cb6c3c', 1, 'cli', '2026-11-20 09:00:00', '2027-02-18 09:00:00');


--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_log VALUES (0, '2026-11-20T09:00:00+00:00', 'tess', 'session-start', '7071b181-bbf7-4cf7-865b-e8d5b6412d51', '{"agent": "alice", "calls": "2", "purpose": "training", "team": ""}', '0000000000000000000000000000000000000000000000000000000000000000', '8b31ff13fc0a98e693bbe389bbbd25d151f9cf20302c97074cc9129628f8df8f');
INSERT INTO public.audit_log VALUES (1, '2026-11-20T09:00:00+00:00', 'tess', 'playback', '5e1f0000-0000-4000-8000-0000000000a1', '{"purpose": "training"}', '8b31ff13fc0a98e693bbe389bbbd25d151f9cf20302c97074cc9129628f8df8f', '2cd196c92f0c173364caffb1f6c94c12c72bfcaa45cac282a1c6cad0536ba7a9');


--
-- Data for Name: devices; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.devices VALUES ('f7d71368-d06c-44e2-86bd-112e9f7e4599', 2, 'callreel-device-pub-1:hhHrwtMb0JyW274CIoCkUhAVRG5hBuUEXTQoMmydDPo', 'desk-12', '2026-11-20 09:00:00', NULL, '2026-11-20 09:00:00', '0.1.0', 0, 0);


--
-- Data for Name: enrol_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.enrol_tokens VALUES ('1dc5befcc7235a6554d31845a2162815ac7518ac35b6511482908eb7781cf647', 2, 'vault-operator', '2026-11-20 09:00:00', '2026-11-27 09:00:00', '2026-11-20 09:00:00');


--
-- Data for Name: recording_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.recording_keys VALUES ('5e1f0000-0000-4000-8000-0000000000a1', '\x6a33377fff7c873c', '\xb3b2e8ee0cfcfe142e56f4a7a5b47a9aa53de5f39924eab81b919234a5204de9fae5b37508ac783098dbbde0a2ad2cd7d3a06402bbf5d38f7decda7ca8d6bfe2c2772026733726eb7e529b4cb5450586d9446ffdee71c288ce23ab86e772cac71c3e2eeb2c64495ec7f045704e3aa724cd9e5b066d8947e05dd94b14acec02076ff7f88895497735f920aa89318e9022546ed2f5f1115e5a36831660056949e36a2c72b3478c9ea0ca5750aa67b9cc98f0a237b933698f937c1594a41cd2970f3a749f25d500431d54d9d32907a17a094091d407effa7fdc43e4017f2bb0cb611888c4e1128547d0201e760703911a6503fee1043367b363bc50c29bd472b1981921792d6ac8ef9a771bcd6a610ca7960d9dc639a9c362502e70464302fdc12608e710118cca8f2ee9996f42f698aae6df3e2fe63a1c77c7428e23eec57daeb0c48a4e4f7ddcc582a3f99ae18dd37cb8fcac2fa898c7d97e997383d47da3834eb7b430a9f519d82dc1f6c7ddbdbc2d6d171354164efe77ed966a2b395ed4ffe3a1c429a633037b5b1ac631297edb10a652f4105752f11bc814ed571267e1fb2b370711af947c976e059cbf237a114c5b0789bf722b4158684b7766bb81e7f9d554ad6869854b53f8bd4e909acfd501ee4a253ba05c22d96b6cac0726384f4952e318150473294214966f769250f0596a85729f8c53072c37b73761b174e7b234397e39b9a504db72c9b1c2e87b4e654418b881e3d6fe8cdd212d374e12a7afc8c1bb574511942b706fce38cb05d27592720167b460ca5d84e50d519806ce327087e919d75b13acb97608425d97e68f8d63de9bef7b84c36cf086e4cfa7cd72047d6b9665e01ab115fde43ec453863cf0b16269f9cacee039c0e7a4545c53b0bc934ebc1385583fadd2191e6d85850aa64659209504c7065d4160aef7990731983396ef8129c1c108b96d04574b02f0dc51615acd926e53b1668d441fd2eda0e5ef395cdb17b55c4e98dbf555147fb6430850831c89da21a66cecca577bbbe036337fd92a2cb733c23834b680aec3742d4a51cdbac4f231d62e0fcabc28b2ed5243234e12055a0688efd5d39411a899f5ffcf3be10fb877da0b35a52d89ebe8fdd0f184de9a0607278525bfe971412e5b57a08185c9d722df53e963f971f28e1834614e9fbc971e2eeeae8b405f4dc05ed54e0bb3f9c0bd7174051b17d7f2add2522ac10ada952c874bb171dae696c50433444400961d8c23caab529483c4dc76d2dec7c8c8154b9e9f9dd34fe04b67aa518525e6b776c67f326fd564f93d0a940c5fb1d5012b269469112500969f087bc78d15004a9e9ec71882998a5dcccabbfb7fbff9d0e74930d6d2cb86efbd97aa0345fc372bac41cc3749c1cbd88d527ae995b553178004c720dcaf174d30c72bde878a742535a8e0741bdbbbfff2463aad518137efc613a96603a44275da75cebe5b95643b7ff3aa4ec8bcf561da529adb636394c39b7409a89383bcba4b7340428bbe2b0054befc272267063b5022e865943fab5b3ef48a5e31b6299117e644d53eae91f5c14ee4ac66564a3be42b01b6190b44499b31c11e3140c319ea4f4cd4afdad3e87d21b8ff9a1b890605c594af9e1ff3e42cdb2690c3cc310b5fe4f8');


--
-- Data for Name: recordings; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.recordings VALUES ('5e1f0000-0000-4000-8000-0000000000a1', '7071b181-bbf7-4cf7-865b-e8d5b6412d51', 'f7d71368-d06c-44e2-86bd-112e9f7e4599', 2, 'training', '2026-11-20 09:00:00', '2026-11-20 09:00:00', 'complete', '2027-11-20 15:00:00', '2028-11-19 21:00:00', NULL, NULL, NULL);


--
-- Data for Name: releases; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: request_nonces; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: schema_info; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_info VALUES (1);


--
-- Data for Name: segments; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.segments VALUES ('5e1f0000-0000-4000-8000-0000000000a1', 0, 'c232732b79732625d405d9f40e82740102f69f9e3dc286dd45c41ce494beb8c4', 1299, 2, 'recordings/5e1f0000-0000-4000-8000-0000000000a1/0000000000', '2026-11-20 09:00:00', NULL);
INSERT INTO public.segments VALUES ('5e1f0000-0000-4000-8000-0000000000a1', 4294967295, '92368d3fc0ae465b37a698ba3d67d52f778bf3db182ce28cb0e820451be4e8b8', 1513, 3, 'recordings/5e1f0000-0000-4000-8000-0000000000a1/4294967295', '2026-11-20 09:00:00', NULL);


--
-- Data for Name: training_sessions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.training_sessions VALUES ('7071b181-bbf7-4cf7-865b-e8d5b6412d51', 1, 2, NULL, 2, 1, 'training', 'Recorded for training', '2026-11-20 09:00:00', '2026-11-20 17:00:00', NULL);


--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.users VALUES (1, 'tess', '$argon2id$v=19$m=65536,t=3,p=4$yOnCPgY2NaoAH4Wn7cICTg$NjBII3gdSWJKUcTQg1ov6/deUk1iklI0H1L2KX8BgvM', 'trainer', NULL, '2026-11-20 09:00:00', NULL);
INSERT INTO public.users VALUES (2, 'alice', NULL, 'agent', 'blue', '2026-11-20 09:00:00', NULL);
INSERT INTO public.users VALUES (3, 'audrey', '$argon2id$v=19$m=65536,t=3,p=4$rJoaBUeJPOAH1d2fKIgNCw$O8PPRqGBbwhWeBqhFAKz0dJJ9WGA6h63SuKDCW9fenQ', 'auditor', NULL, '2026-11-20 09:00:00', NULL);


--
-- Name: schema_info_version_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.schema_info_version_seq', 1, false);


--
-- Name: users_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.users_id_seq', 3, true);


--
-- Name: api_tokens api_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (token_hash);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (sequence);


--
-- Name: devices devices_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.devices
    ADD CONSTRAINT devices_pkey PRIMARY KEY (id);


--
-- Name: enrol_tokens enrol_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enrol_tokens
    ADD CONSTRAINT enrol_tokens_pkey PRIMARY KEY (token_hash);


--
-- Name: recording_keys recording_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_keys
    ADD CONSTRAINT recording_keys_pkey PRIMARY KEY (recording_id);


--
-- Name: recordings recordings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recordings
    ADD CONSTRAINT recordings_pkey PRIMARY KEY (id);


--
-- Name: releases releases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.releases
    ADD CONSTRAINT releases_pkey PRIMARY KEY (id);


--
-- Name: request_nonces request_nonces_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.request_nonces
    ADD CONSTRAINT request_nonces_pkey PRIMARY KEY (device_id, nonce);


--
-- Name: schema_info schema_info_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_info
    ADD CONSTRAINT schema_info_pkey PRIMARY KEY (version);


--
-- Name: segments segments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.segments
    ADD CONSTRAINT segments_pkey PRIMARY KEY (recording_id, segment_index);


--
-- Name: training_sessions training_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.training_sessions
    ADD CONSTRAINT training_sessions_pkey PRIMARY KEY (id);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: users users_username_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_username_key UNIQUE (username);


--
-- Name: ix_audit_log_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_audit_log_subject ON public.audit_log USING btree (subject);


--
-- Name: ix_recordings_delete_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_recordings_delete_at ON public.recordings USING btree (delete_at);


--
-- Name: ix_request_nonces_seen_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_request_nonces_seen_at ON public.request_nonces USING btree (seen_at);


--
-- Name: api_tokens api_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);


--
-- Name: devices devices_agent_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.devices
    ADD CONSTRAINT devices_agent_user_id_fkey FOREIGN KEY (agent_user_id) REFERENCES public.users(id);


--
-- Name: enrol_tokens enrol_tokens_agent_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.enrol_tokens
    ADD CONSTRAINT enrol_tokens_agent_user_id_fkey FOREIGN KEY (agent_user_id) REFERENCES public.users(id);


--
-- Name: recording_keys recording_keys_recording_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_keys
    ADD CONSTRAINT recording_keys_recording_id_fkey FOREIGN KEY (recording_id) REFERENCES public.recordings(id);


--
-- Name: recordings recordings_agent_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recordings
    ADD CONSTRAINT recordings_agent_user_id_fkey FOREIGN KEY (agent_user_id) REFERENCES public.users(id);


--
-- Name: recordings recordings_device_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recordings
    ADD CONSTRAINT recordings_device_id_fkey FOREIGN KEY (device_id) REFERENCES public.devices(id);


--
-- Name: recordings recordings_session_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recordings
    ADD CONSTRAINT recordings_session_id_fkey FOREIGN KEY (session_id) REFERENCES public.training_sessions(id);


--
-- Name: releases releases_authoriser_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.releases
    ADD CONSTRAINT releases_authoriser_id_fkey FOREIGN KEY (authoriser_id) REFERENCES public.users(id);


--
-- Name: releases releases_recording_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.releases
    ADD CONSTRAINT releases_recording_id_fkey FOREIGN KEY (recording_id) REFERENCES public.recordings(id);


--
-- Name: releases releases_requester_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.releases
    ADD CONSTRAINT releases_requester_id_fkey FOREIGN KEY (requester_id) REFERENCES public.users(id);


--
-- Name: segments segments_recording_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.segments
    ADD CONSTRAINT segments_recording_id_fkey FOREIGN KEY (recording_id) REFERENCES public.recordings(id);


--
-- Name: training_sessions training_sessions_agent_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.training_sessions
    ADD CONSTRAINT training_sessions_agent_user_id_fkey FOREIGN KEY (agent_user_id) REFERENCES public.users(id);


--
-- Name: training_sessions training_sessions_trainer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.training_sessions
    ADD CONSTRAINT training_sessions_trainer_id_fkey FOREIGN KEY (trainer_id) REFERENCES public.users(id);


--
-- PostgreSQL database dump complete
--

\unrestrict mdeSJjvwop9YfbJzRhDNBlwaiZugFUmbV4rRnITxvMVHlZ9X096W05Azg8eGPHR

