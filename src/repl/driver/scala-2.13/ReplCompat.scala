package org.livyserver.repl

import java.io.PrintWriter

import scala.tools.nsc.Settings
import scala.tools.nsc.interpreter.IMain
import scala.tools.nsc.interpreter.shell.{Accumulator, ReplCompletion, ReplReporterImpl}

/** The REPL calls whose API differs between Scala versions: the Scala 2.13 side. */
object ReplCompat {
  /** An initialized interpreter whose class loader has `parent` as parent, reporting to `out`. */
  def createInterpreter(settings: Settings, parent: ClassLoader, out: PrintWriter): IMain = {
    val intp = new IMain(settings, Some(parent), settings, new NormalisingReporter(settings, out))
    if (!intp.initializeCompiler()) throw new IllegalStateException("the Scala compiler failed to initialize")
    intp
  }

  /** Completion candidates at `cursor`. */
  def complete(intp: IMain, code: String, cursor: Int): Seq[String] =
    new ReplCompletion(intp, new Accumulator).complete(code, cursor).candidates.map(_.name)

  /**
   * The top-level statements of `code`: for each, the offset where it ends and whether it defines
   * a class, object, trait or type. None if `code` does not parse into positioned statements.
   */
  def topLevel(intp: IMain, code: String): Option[Seq[(Int, Boolean)]] = intp.parse(code) match {
    case Right((trees, _, _)) if trees.forall(_.pos.isRange) => Some(trees.map(t => (t.pos.end, TreeKinds.isDefinition(t))))
    case _ => None
  }
}

/** Scala 2.13 prints `val res0: Int = 2`; Livy clients know Scala 2.11/2.12's `res0: Int = 2`. */
private final class NormalisingReporter(settings: Settings, out: PrintWriter)
  extends ReplReporterImpl(settings, out) {
  override def printMessage(msg: String): Unit = super.printMessage(NormalisingReporter.normalise(msg))
}

private object NormalisingReporter {
  private val ValPrefix = "(?m)^(?:val|var) (?=(?:[^\\s:`]+|`[^`]+`): )".r
  def normalise(msg: String): String = ValPrefix.replaceAllIn(msg, "")
}
