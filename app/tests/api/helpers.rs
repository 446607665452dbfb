//! `spawn_app`: the service on port 0 with a fresh database of its own.

use std::time::Instant;

use app::config::Settings;
use app::startup::{self, AppState, MIGRATOR};
use launcher::Postgres;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub postgres: Option<Postgres>,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }
}

pub async fn spawn_app() -> TestApp {
    let pg = Postgres::ephemeral().expect("start PostgreSQL");
    pg.create_database("app").expect("create database");
    let url = pg.url("app");
    let settings = Settings::from_lookup(|k| (k == "APP_DATABASE_URL").then(|| url.clone()))
        .expect("settings");
    let db = startup::pool(&settings).expect("pool");
    MIGRATOR.run(&db).await.expect("migrations apply");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState {
        db,
        started: Instant::now(),
    };
    tokio::spawn(startup::serve(listener, state, std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        postgres: Some(pg),
    }
}
