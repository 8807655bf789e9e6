-- Demo data for ledger's previews (mysql.seed): run once into a new, empty database by the mariadb client in
-- sandbox mode, as the app's user (docs/mysql-data.md "Seed data").
CREATE TABLE accounts (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL);
INSERT INTO accounts (name) VALUES ('Cash'), ('Receivables'), ('Owner\'s equity');
