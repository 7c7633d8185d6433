// MongoDB, first start only (empty data volume): the mongo image's entrypoint
// runs this with mongosh against a temporary, localhost-only server, after it
// has created the root user. Creates drseek's own user with readWrite on its
// database only; drseek connects as that user (authSource = that database).
//
// Environment (set in docker/compose.yaml):
//   DRSEEK_MONGODB_DATABASE  database name (default: drseek)
//   DRSEEK_MONGO_PASSWORD    password of the user `drseek`
const name = process.env.DRSEEK_MONGODB_DATABASE || 'drseek';
const pwd = process.env.DRSEEK_MONGO_PASSWORD;
if (!pwd) {
  throw new Error('DRSEEK_MONGO_PASSWORD must be set');
}
db.getSiblingDB(name).createUser({
  user: 'drseek',
  pwd: pwd,
  roles: [{ role: 'readWrite', db: name }],
});
print(`drseek: created user drseek on database ${name}`);
