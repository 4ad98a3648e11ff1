package org.livyserver.repl

import java.io.File
import java.net.URI

import scala.util.Try

import org.apache.spark.SparkConf

/**
 * Everything the server tells the driver. spark-submit turns `--conf spark.*` into system
 * properties of the driver JVM (client mode), so a fresh SparkConf sees them all; the session
 * secret comes from the environment so that it never shows on a command line.
 */
final case class DriverConf(
    /** The servers to dial, in order: the launching one first. */
    callbacks: Seq[(String, Int)],
    sessionId: String,
    kind: String,
    pythonScript: String,
    rScript: String,
    rLib: String,
    sqlNumRows: Int,
    /** Largest statement output kept and sent; longer ones are cut. */
    maxOutputBytes: Long,
    idleTimeoutMs: Long,
    jobCancelTimeoutMs: Long,
    retainedStatements: Int,
    secret: String,
    /** A pooled driver: every interpreter and the JIT warmed before "idle", for any kind. */
    pooled: Boolean = false) {

  /** Session kinds whose first statements are Scala: the compiler is warmed before "idle". */
  def scalaFirst: Boolean = kind == "spark" || kind == "shared" || pooled
}

object DriverConf {
  val Callback = "spark.livy.callback"
  val SessionId = "spark.livy.session.id"
  val SessionKind = "spark.livy.session.kind"
  val PythonScript = "spark.livy.repl.python"
  val RScript = "spark.livy.repl.r"
  val RLib = "spark.livy.r.lib"
  val SqlNumRows = "spark.livy.sql.num-rows"
  val MaxOutputBytes = "spark.livy.statement.max-output-bytes"
  val IdleTimeout = "spark.livy.server.idle-timeout"
  // Not passed by the server today; Livy's defaults apply unless a user conf sets them.
  val JobCancelTimeout = "spark.livy.job-cancel.timeout"
  val RetainedStatements = "spark.livy.retained-statements"
  val Pooled = "spark.livy.pool"
  val SecretEnv = "LIVY_SESSION_SECRET"

  def load(conf: SparkConf): DriverConf = {
    val callback = conf.getOption(Callback).getOrElse(throw new IllegalArgumentException(s"$Callback is not set"))
    val callbacks = splitServers(callback)
    require(callbacks.nonEmpty, s"$Callback names no server")
    val kind = conf.get(SessionKind, "shared").toLowerCase(java.util.Locale.ROOT)
    val secret = sys.env.getOrElse(SecretEnv, {
      Log.warn(s"$SecretEnv is not set: the server will reject this driver")
      ""
    })
    DriverConf(
      callbacks = callbacks,
      sessionId = conf.get(SessionId, "0"),
      kind = kind,
      pythonScript = conf.get(PythonScript, ""),
      rScript = conf.get(RScript, ""),
      rLib = conf.get(RLib, ""),
      sqlNumRows = conf.getInt(SqlNumRows, 1000),
      maxOutputBytes = math.max(1L, conf.getLong(MaxOutputBytes, 8L << 20)),
      idleTimeoutMs = conf.getTimeAsMs(IdleTimeout, "600s") match {
        // a bare number is seconds, like livy.rsc.server.idle-timeout
        case ms if conf.getOption(IdleTimeout).exists(_.trim.forall(_.isDigit)) => ms * 1000
        case ms => ms
      },
      jobCancelTimeoutMs = conf.getTimeAsMs(JobCancelTimeout, "30s"),
      retainedStatements = conf.getInt(RetainedStatements, 100),
      secret = secret,
      pooled = conf.getBoolean(Pooled, false))
  }

  /** "host:port,host:port,...": every server that may serve this driver. */
  def splitServers(s: String): Seq[(String, Int)] =
    s.split(',').iterator.map(_.trim).filter(_.nonEmpty).map(splitHostPort).toVector

  /** "host:port", "[v6::addr]:port". */
  def splitHostPort(s: String): (String, Int) = {
    val i = s.lastIndexOf(':')
    require(i > 0, s"$Callback must be HOST:PORT, got '$s'")
    val host = s.substring(0, i).stripPrefix("[").stripSuffix("]")
    (host, s.substring(i + 1).trim.toInt)
  }

  /** A local filesystem path for a plain path or a file: URI; None for remote URIs. */
  def localPath(uri: String): Option[String] = Try(new URI(uri)).toOption match {
    case Some(u) if u.getScheme == null => Some(new File(uri).getAbsolutePath)
    case Some(u) if u.getScheme == "file" || u.getScheme == "local" => Some(u.getPath)
    case _ => None
  }
}
